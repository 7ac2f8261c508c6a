"""The kubernetes client logs every response body at DEBUG (a Secret's data, a ServiceAccount token): the
operator's client module keeps that logger at INFO, even when --verbose puts the root logger at DEBUG."""

from __future__ import annotations

import logging

import pytest

import wallaroo_operator.kube.client  # noqa: F401 - importing it is what sets the level


def test_response_bodies_are_never_logged_even_at_debug(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)  # as kopf's --verbose does to the root logger

    assert not logging.getLogger("kubernetes.client.rest").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("kubernetes.client.rest").isEnabledFor(logging.INFO)
