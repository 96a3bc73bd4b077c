"""The same sessions as tasks.toml, for nox: kept to compare rtask with nox (bench/)."""

import nox

nox.options.sessions = ["coverage_report"]


@nox.session(python="3.11")
def unit_tests(session):
    """Run the test suite under coverage"""
    session.install("-r", "requirements-test.txt")
    session.env["COVERAGE_FILE"] = ".coverage"
    session.env["PYTHONHASHSEED"] = "0"
    session.run("python", "-m", "coverage", "run", "-m", "pytest", "-q", *session.posargs)


@nox.session(python="3.11", requires=["unit_tests"])
def coverage_report(session):
    """Build the text, XML and HTML coverage reports"""
    session.install("-r", "requirements-test.txt")
    session.env["PYTHONHASHSEED"] = "0"
    session.run("python", "-m", "coverage", "report", "--fail-under=90")
    session.run("python", "-m", "coverage", "xml")
    session.run("python", "-m", "coverage", "html")
