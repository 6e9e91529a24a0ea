"""The pure math of memory reading and aggregation against literal formulas."""

from __future__ import annotations

import math

import pytest
import torch

from xmem.memory.ops import readout, similarity, topk_softmax, usage
from xmem.model.aggregate import aggregate


def naive_similarity(
    mk: torch.Tensor, ms: torch.Tensor, qk: torch.Tensor, qe: torch.Tensor | None
) -> torch.Tensor:  # CK×M, 1×M, CK×Q, CK×Q
    ck, m = mk.shape
    q = qk.shape[1]
    out = torch.empty(m, q, dtype=torch.float64)
    for i in range(m):
        for j in range(q):
            if qe is not None:
                d = (qe[:, j] * (mk[:, i] - qk[:, j]) ** 2).sum()
                out[i, j] = -ms[0, i] * d / math.sqrt(ck)
            else:
                out[i, j] = (
                    (2 * mk[:, i] @ qk[:, j] - mk[:, i] @ mk[:, i]) * ms[0, i] / math.sqrt(ck)
                )
    return out


def test_similarity_matches_formula() -> None:
    g = torch.Generator().manual_seed(0)
    mk, qk = torch.randn(8, 7, generator=g), torch.randn(8, 5, generator=g)
    ms, qe = 1 + torch.rand(1, 7, generator=g), torch.rand(8, 5, generator=g)
    for sel in (qe, None):
        ours = similarity(mk, ms, qk, sel).double()
        ref = naive_similarity(
            mk.double(), ms.double(), qk.double(), None if sel is None else sel.double()
        )
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_similarity_batched_and_without_shrinkage() -> None:
    mk, qk = torch.randn(2, 4, 6), torch.randn(2, 4, 3)
    out = similarity(mk, None, qk, None)
    assert out.shape == (2, 6, 3)
    torch.testing.assert_close(out[1], similarity(mk[1], None, qk[1], None))


def test_topk_softmax_keeps_k_largest_per_column() -> None:
    sim = torch.randn(10, 6)
    aff = topk_softmax(sim, 3)
    assert aff.shape == sim.shape
    assert ((aff > 0).sum(0) == 3).all()
    torch.testing.assert_close(aff.sum(0), torch.ones(6))
    top = sim.topk(3, dim=0)
    ref = torch.zeros_like(sim).scatter_(0, top.indices, torch.softmax(top.values, 0))
    torch.testing.assert_close(aff, ref)


def test_topk_softmax_small_memory_is_plain_softmax() -> None:
    sim = torch.randn(4, 5)
    torch.testing.assert_close(topk_softmax(sim, 30), torch.softmax(sim, 0))
    torch.testing.assert_close(topk_softmax(sim, None), torch.softmax(sim, 0))


def test_topk_softmax_no_overflow_in_half_precision() -> None:
    sim = torch.full((50, 4), 80.0, dtype=torch.float16)  # exp(80) overflows fp16 and fp32
    sim[0] = 90
    aff = topk_softmax(sim, 10)
    assert torch.isfinite(aff).all()
    torch.testing.assert_close(aff.float().sum(0), torch.ones(4), atol=1e-2, rtol=0)


def test_readout_and_usage() -> None:
    aff = torch.softmax(torch.randn(6, 4), 0)
    v = torch.randn(3, 5, 6)
    out = readout(aff, v)
    assert out.shape == (3, 5, 4)
    torch.testing.assert_close(out[2, 1, 3], (v[2, 1] * aff[:, 3]).sum())
    torch.testing.assert_close(usage(aff), aff.sum(1))


def test_aggregate() -> None:
    p = torch.rand(3, 4, 5)
    logits, prob = aggregate(p, dim=0)
    assert prob.shape == (4, 4, 5)
    torch.testing.assert_close(prob.sum(0), torch.ones(4, 5))
    bg = torch.prod(1 - p, 0, keepdim=True)
    q = torch.cat([bg, p]).clamp(1e-7, 1 - 1e-7)
    torch.testing.assert_close(logits, torch.log(q / (1 - q)))
    # fp16 inputs: exact zeros and ones stay finite
    onehot = torch.zeros(2, 3, 3, dtype=torch.float16)
    onehot[0, 0] = 1
    _, prob16 = aggregate(onehot, dim=0)
    assert torch.isfinite(prob16).all() and prob16.dtype == torch.float32


@pytest.mark.parametrize("selection", [True, False])
def test_sparse_topk_read_equals_the_dense_one(selection: bool) -> None:
    """The sparse path (query-major top-k, CSR readout, scattered usage) computes exactly
    what the dense one does."""
    from xmem.memory.ops import (
        memory_operand,
        query_operand,
        readout,
        similarity,
        similarity_qm,
        sparse_readout,
        sparse_usage,
        topk_affinity,
        topk_softmax,
        usage,
    )

    g = torch.Generator().manual_seed(3)
    ck, m, q, cv, k = 8, 300, 40, 12, 7
    mk, qk = torch.randn(ck, m, generator=g), torch.randn(ck, q, generator=g)
    s = torch.rand(1, m, generator=g) + 1
    e = torch.rand(ck, q, generator=g) if selection else None
    value = torch.randn(cv, m, generator=g)
    sim_mq = similarity(mk, s, qk, e)
    sim_qm = similarity(mk, s, qk, e, query_major=True)
    torch.testing.assert_close(sim_qm, sim_mq.t())
    buffer = torch.full((q * m + 5,), float("nan"))  # the manager's reused buffer, oversized
    out = buffer[: q * m].view(q, m)
    operands = memory_operand(mk, s, selection), query_operand(qk, e)
    assert similarity_qm(*operands, out=out).data_ptr() == buffer.data_ptr()
    assert torch.equal(out, sim_qm)
    dense = topk_softmax(sim_mq, k)
    sparse = topk_affinity(sim_qm, k)
    torch.testing.assert_close(sparse_readout(sparse, value), readout(dense, value))
    torch.testing.assert_close(sparse_usage(sparse, m), usage(dense))
    half = sparse_readout(sparse, value.half())
    assert half.dtype == torch.float16
