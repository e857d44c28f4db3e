"""The worker: the job loop, the runner, checkouts, lease guards and the outbox drain."""
