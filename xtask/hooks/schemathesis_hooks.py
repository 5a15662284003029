"""Schemathesis hooks for xtask/schemathesis.py: the rules of API.md that a schema cannot state.

A new password (sign-up, a password reset's confirmation, a password change) may not be one of the 10,000 most
common passwords, compared without regard to case (API.md, "Accounts"). The document says so in the password's description, but no JSON Schema keyword compares
strings without regard to case, and listing the 3,337 of them that are long enough, in every casing, is no
schema a client could use. So the generated requests with those passwords are dropped here, from the same list the core
reads, instead of the check that would report the server's 422 for them.
"""

import os

import schemathesis

LIST = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "tenancy-core", "data", "common-passwords.txt"
)
with open(LIST, encoding="utf-8") as file:
    COMMON = {line.strip().lower() for line in file if line.strip()}


# The operations that take a new password, and the field that holds it.
NEW_PASSWORDS = {
    ("POST", "/v1/auth/signup"): "password",
    ("POST", "/v1/auth/password-reset/confirm"): "password",
    ("PUT", "/v1/me/password"): "new_password",
}


@schemathesis.hook
def filter_case(context, case):
    # `filter_case` rather than `filter_body`: the coverage phase applies only the former.
    operation = case.operation
    field = NEW_PASSWORDS.get((operation.method.upper(), operation.path))
    if field is None:
        return True
    password = case.body.get(field) if isinstance(case.body, dict) else None
    return not (isinstance(password, str) and password.lower() in COMMON)
