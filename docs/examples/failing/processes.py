"""Fails on purpose: the cross-process check's report (docs/examples/output/processes.txt)."""

from __future__ import annotations

import multiprocessing

import orders_app

from pytest_gcpfakes import assert_no_cross_process_sharing


def post_order() -> None:
    response = orders_app.app.test_client().post("/orders", data=b"order")
    assert response.status_code == 202


def test_forked_workers(fake_pubsub):
    fake_pubsub.create_topic("orders")
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=post_order) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [w.exitcode for w in workers] == [0, 0]
    assert_no_cross_process_sharing()
