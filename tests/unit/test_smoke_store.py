from bot.records import NewJob, Phase


def test_enqueue_claim_complete(store):
    e = store.enqueue(
        NewJob(id="j1", idempotency_key="k1", repo="o/r", agent="rename", command={"a": 1})
    )
    assert e.created
    again = store.enqueue(
        NewJob(id="j1", idempotency_key="k1", repo="o/r", agent="rename", command={})
    )
    assert not again.created
    leases = store.claim("w1", Phase.RUN)
    assert len(leases) == 1 and leases[0].token == 1
    assert store.heartbeat("j1", 1)
    assert [e.kind for e in store.events("j1")] == ["created", "claimed"]
