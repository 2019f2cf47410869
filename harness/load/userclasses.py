"""Locust user classes and shape for a `LoadPlan`: one class per arm (and per user class).

A master and its workers call this with the same plan, so class names match across
processes, as Locust's dispatcher requires. Imports Locust: Locust processes only.
"""

from __future__ import annotations

import types
from collections.abc import MutableMapping
from typing import Any

from locust import FastHttpUser, LoadTestShape, User

from harness.errors import BadInput
from harness.load.plan import LoadPlan, UserCode
from harness.load.recorder import ARM_CONTEXT_KEY
from harness.load.targets import Arm
from locustfiles.hello import HelloUser, RequestBudget
from locustfiles.shapes import SHAPES


def build_user_classes(plan: LoadPlan, budget: RequestBudget) -> list[type[User]]:
    """One built-in `HelloUser` class per arm, or each of the plan's own user classes per arm.

    Every class has weight 1, so Locust gives each arm the same number of users.
    Raises ``BadInput`` when the plan's locustfile does not load or has no user class.
    """
    if plan.user_code is None:
        return [_hello_class(arm, plan, budget) for arm in plan.arms]
    own_classes, _ = load_user_code(plan.user_code)
    return [_own_class(cls, arm, plan) for arm in plan.arms for cls in own_classes]


def build_shape(plan: LoadPlan) -> LoadTestShape | None:
    """The plan's shape (a harness shape, else one the locustfile defines), or None."""
    if plan.shape is not None:
        return SHAPES[plan.shape](
            users=plan.pacing.users, duration_s=plan.duration_s, arm_count=len(plan.arms)
        )
    if plan.user_code is not None:
        _, own_shape = load_user_code(plan.user_code)
        if own_shape is not None:
            return own_shape()
    return None


def load_user_code(code: UserCode) -> tuple[list[type[User]], type[LoadTestShape] | None]:
    """Run a locustfile's source; return its concrete user classes and its shape, if any.

    Raises ``BadInput`` (one line) when the file fails to run or defines no user class.
    """
    module = types.ModuleType("harness_locustfile")
    module.__file__ = code.filename
    try:
        exec(compile(code.source, code.filename, "exec"), module.__dict__)
    except Exception as exc:
        raise BadInput(f"--locustfile {code.filename}: {type(exc).__name__}: {exc}") from None
    users = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, User) and not value.abstract
    ]
    shapes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, LoadTestShape)
        and not getattr(value, "abstract", True)
    ]
    if not users:
        raise BadInput(f"--locustfile {code.filename} defines no (non-abstract) User class")
    if len(shapes) > 1:
        names = ", ".join(s.__name__ for s in shapes)
        raise BadInput(f"--locustfile {code.filename} defines several LoadTestShapes ({names})")
    return users, (shapes[0] if shapes else None)


def _hello_class(arm: Arm, plan: LoadPlan, budget: RequestBudget) -> type[User]:
    pacing = plan.pacing
    attrs: dict[str, Any] = {
        "__module__": HelloUser.__module__,
        "host": arm.base_url,
        "arm": arm.name,
        "path": arm.path,
        "interval_s": None if pacing.rate is None else pacing.users / pacing.rate,
        "think_s": pacing.wait_s,
        "budget": budget,
        "weight": 1,
        "network_timeout": plan.timeout_s,
        "connection_timeout": plan.timeout_s,
    }
    if arm.host_header:
        attrs["default_headers"] = {"Host": arm.host_header}
    return type(f"{HelloUser.__name__}@{arm.name}", (HelloUser,), attrs)


def _own_class(base: type[User], arm: Arm, plan: LoadPlan) -> type[User]:
    arm_name = arm.name

    def context(self: User) -> dict[str, Any]:
        return {**base.context(self), ARM_CONTEXT_KEY: arm_name}

    attrs: dict[str, Any] = {
        "__module__": base.__module__,
        "host": arm.base_url,
        "context": context,
    }
    if arm.host_header:
        host_header = arm.host_header
        if issubclass(base, FastHttpUser):
            attrs["default_headers"] = {**(base.default_headers or {}), "Host": host_header}
        else:

            def __init__(self: User, environment: Any) -> None:
                base.__init__(self, environment)
                headers = getattr(getattr(self, "client", None), "headers", None)
                if isinstance(headers, MutableMapping):
                    headers["Host"] = host_header

            attrs["__init__"] = __init__
    if issubclass(base, FastHttpUser):
        attrs["network_timeout"] = plan.timeout_s
        attrs["connection_timeout"] = plan.timeout_s
    return type(f"{base.__name__}@{arm.name}", (base,), attrs)
