"""Course grading: a pytest plugin turning ``@pytest.mark.points(n)`` tests into a JSON report."""
