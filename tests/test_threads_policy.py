"""fastnn/threads.py wait policies: bounded_spin sets GOMP_SPINCOUNT only when the user set no policy."""
import os

from fastnn import threads


def test_bounded_spin_sets_the_count_when_no_policy(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert threads.bounded_spin() is True
    assert os.environ["GOMP_SPINCOUNT"] == str(threads.SPIN_COUNT)


def test_bounded_spin_keeps_the_users_policy(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert threads.bounded_spin() is False
    assert "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("GOMP_SPINCOUNT", "123")
    assert threads.bounded_spin() is False
    assert os.environ["GOMP_SPINCOUNT"] == "123"
