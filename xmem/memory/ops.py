"""The math of memory reading, as pure functions.

Shapes: memory keys ``CK×M`` (M memory elements), shrinkage ``1×M``, query keys and selection
``CK×Q`` (Q query positions); an optional leading batch dimension is allowed everywhere.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import torch
from torch import Tensor


def memory_operand(mem_key: Tensor, mem_shrinkage: Tensor | None, selection: bool) -> Tensor:
    """The memory side ``A`` of :func:`similarity` (``S = A @ B``), ``[*, M, 2CK+1]`` with a
    query selection and ``[*, M, CK+1]`` without, in float32. It depends on the memory alone,
    so a reader can keep it while the memory is unchanged."""
    ck = mem_key.shape[-2]
    mk = mem_key.float().transpose(-1, -2)  # [*, M, CK]
    if selection:
        ones = mk.new_ones((*mk.shape[:-1], 1))
        a = torch.cat([2 * mk, -mk.pow(2), -ones], dim=-1)
    else:
        a = torch.cat([2 * mk, -mk.pow(2).sum(-1, keepdim=True)], dim=-1)
    scale = 1 / math.sqrt(ck)
    if mem_shrinkage is not None:
        return a * (mem_shrinkage.float().transpose(-1, -2) * scale)
    return a * scale


def query_operand(query_key: Tensor, query_selection: Tensor | None) -> Tensor:
    """The query side ``B`` of :func:`similarity`, ``[*, 2CK+1, Q]`` or ``[*, CK+1, Q]``."""
    qk = query_key.float()
    if query_selection is not None:
        qe = query_selection.float()
        b_sq = (qe * qk.pow(2)).sum(-2, keepdim=True)  # [*, 1, Q]
        return torch.cat([qk * qe, qe, b_sq], dim=-2)
    return torch.cat([qk, qk.new_ones((*qk.shape[:-2], 1, qk.shape[-1]))], dim=-2)


def similarity(
    mem_key: Tensor,
    mem_shrinkage: Tensor | None,
    query_key: Tensor,
    query_selection: Tensor | None,
    query_major: bool = False,
) -> Tensor:
    """Negative shrunk, selected squared distance, ``[*, M, Q]`` (``[*, Q, M]`` with
    ``query_major``, the layout :func:`topk_affinity` wants).

    ``S_ij = −s_i · Σ_c e_cj (k_ci − q_cj)² / √CK``; without selection the per-query constant
    ``|q_j|²`` is dropped: ``(2 k_i·q_j − |k_i|²) · s_i / √CK``. Computed in float32 as one
    matrix product, with the shrinkage and the scale folded into the memory side: about 3×
    faster on CPUs than separate products and element-wise passes over M×Q.
    """
    a = memory_operand(mem_key, mem_shrinkage, query_selection is not None)
    b = query_operand(query_key, query_selection)
    if query_major:
        return similarity_qm(a, b)
    return a @ b


def similarity_qm(mem_side: Tensor, query_side: Tensor, out: Tensor | None = None) -> Tensor:
    """:func:`similarity` from :func:`memory_operand` and :func:`query_operand`, query-major
    ``[Q, M]``, written into ``out`` (a float32 tensor of that shape) when given."""
    return torch.matmul(query_side.transpose(-1, -2), mem_side.transpose(-1, -2), out=out)


def topk_softmax(sim: Tensor, top_k: int | None) -> Tensor:
    """Softmax over memory elements (dim −2), keeping only the ``top_k`` largest per query.

    Returns the affinity ``[*, M, Q]``, zero outside the top-k. The column maximum is
    subtracted before ``exp`` (the original does not, which overflows in fp16). ``top_k``
    larger than M (small memories) means a plain softmax; ``None`` too.
    """
    m = sim.shape[-2]
    if top_k is None or top_k >= m:
        return torch.softmax(sim, dim=-2)
    values, indices = torch.topk(sim, k=top_k, dim=-2)
    x_exp = torch.exp(values - values[..., :1, :])  # topk sorts: row 0 holds the max
    x_exp = x_exp / x_exp.sum(dim=-2, keepdim=True)
    return torch.zeros_like(sim).scatter_(-2, indices, x_exp)


def readout(affinity: Tensor, value: Tensor) -> Tensor:
    """Weighted sum of memory values: ``value [.., CV, M] @ affinity [M, Q] → [.., CV, Q]``."""
    return value @ affinity.to(value.dtype)


def usage(affinity: Tensor) -> Tensor:
    """How much each memory element was used by one read: ``Σ_j A_ij``, shape ``[*, M]``."""
    return affinity.sum(dim=-1)


class TopK(NamedTuple):
    """A sparse affinity: for each query, its ``k`` memory elements and their weights."""

    indices: Tensor  # Q×k, into the memory elements
    weights: Tensor  # Q×k, softmax over the k (rows sum to 1)


def topk_affinity(sim_qm: Tensor, top_k: int) -> TopK:
    """The affinity of :func:`topk_softmax`, kept sparse: ``sim_qm`` is ``Q×M`` (query-major,
    so the top-k runs over contiguous memory) and ``top_k < M``."""
    values, indices = torch.topk(sim_qm, k=top_k, dim=-1)  # sorted: column 0 holds the max
    weights = torch.exp(values - values[:, :1])
    return TopK(indices, weights / weights.sum(dim=-1, keepdim=True))


def sparse_readout(affinity: TopK, value: Tensor) -> Tensor:
    """:func:`readout` of a sparse affinity: ``value [C, M] → [C, Q]``, touching only the
    ``Q·k`` selected elements instead of all ``Q·M``."""
    q, k = affinity.indices.shape
    rows = torch.arange(0, q * k + 1, k, device=value.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        matrix = torch.sparse_csr_tensor(
            rows,
            affinity.indices.flatten(),
            affinity.weights.flatten().float(),
            size=(q, value.shape[-1]),
        )
        # float32: CPU kernels of sparse products have no half precision
        return (matrix @ value.float().t()).t().to(value.dtype)


def sparse_usage(affinity: TopK, m: int) -> Tensor:
    """:func:`usage` of a sparse affinity: ``[M]``."""
    total = affinity.weights.new_zeros(m)
    return total.index_add_(0, affinity.indices.flatten(), affinity.weights.flatten())


# -- memory reads: how a query frame reads memory, chosen by MemoryConfig.memory_read -------


class MemoryPart(Protocol):
    """A run of memory elements (long-term or working memory of one group)."""

    key: Tensor  # CK×M
    shrinkage: Tensor | None  # 1×M
    value: Tensor  # N×CV×M


# (parts in order, query key CK×Q, query selection CK×Q or None, top-k k or None)
#   -> (readout N×CV×Q, usage of each memory element [M over all parts])
Read = Callable[[Sequence[MemoryPart], Tensor, Tensor | None, int | None], tuple[Tensor, Tensor]]


def topk_read(
    parts: Sequence[MemoryPart], qk: Tensor, qe: Tensor | None, top_k: int | None
) -> tuple[Tensor, Tensor]:
    """The paper's read: the top-k softmax of the anisotropic L2 similarity over all parts
    (:class:`~xmem.memory.manager.MemoryManager` runs it sparse when ``top_k`` < M)."""
    sims = [similarity(p.key, p.shrinkage, qk, qe) for p in parts]  # M_part×Q each
    affinity = topk_softmax(torch.cat(sims, dim=0), top_k)
    out, start = None, 0
    for p in parts:
        size = p.key.shape[-1]
        piece = readout(affinity[start : start + size], p.value)
        out = piece if out is None else out + piece
        start += size
    assert out is not None, "a read needs at least one part of memory"
    return out, usage(affinity)


# The memory reads by name. A new read (a different affinity) is one function with the
# signature of :data:`Read` registered here; ``--memory-read NAME`` chooses it.
READS: dict[str, Read] = {"top_k": topk_read}
