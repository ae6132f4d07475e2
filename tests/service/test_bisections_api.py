"""``GET /api/bisections[/ID]``: a stored bisection and its probes, read-only."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from harness.service.app import create_app
from harness.store import Store


def test_a_stored_bisection_is_served_with_its_probes(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'svc.db'}") as store:
        with store.transaction("a bisection") as tx:
            bid = tx.bisections.create(
                job_id=None,
                cell="demo/cpu/host",
                suite="demo",
                tests=["tests.test_a::test_b"],
                good_sha="a" * 40,
                bad_sha="c" * 40,
                candidates=2,
                max_probes=4,
                repeats=3,
            )
            tx.bisections.add_probe(
                bid,
                sha="b" * 40,
                role="probe",
                verdict="bad",
                run_ids=[7],
                reused=True,
                outcomes={"tests.test_a::test_b": ["failed", "failed", "failed"]},
            )
            tx.bisections.finish(
                bid,
                status="done",
                outcome="found",
                reason="first bad",
                first_bad="b" * 40,
                suspects=["b" * 40],
            )
        client = TestClient(create_app(store, None))
        doc = client.get(f"/api/bisections/{bid}").json()
        assert doc["outcome"] == "found"
        assert doc["first_bad"] == "b" * 40
        assert doc["probes"][0]["outcomes"] == {"tests.test_a::test_b": ["failed"] * 3}
        assert doc["probes"][0]["run_ids"] == [7]
        assert doc["created_at"].startswith("20")
        listed = client.get("/api/bisections").json()["bisections"]
        assert [b["id"] for b in listed] == [bid]
        missing = client.get(f"/api/bisections/{bid + 1}")
        assert missing.status_code == 404
        assert client.post(f"/api/bisections/{bid}").status_code == 405
