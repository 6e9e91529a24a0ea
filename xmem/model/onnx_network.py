"""The network run by ONNX Runtime from exported graphs (:mod:`xmem.model.onnx_export`).

:class:`OnnxXMem` has the stages of :class:`~xmem.model.network.XMem` that the inference
engine calls (``encode_key``, ``encode_value``, ``segment``), so
:class:`~xmem.inference.tracker.Tracker` and :class:`~xmem.inference.core.InferenceCore` run it
unchanged: the memory and the step policy stay in Python, the stages run in ONNX Runtime on
the CPU, in float32. Its threads do not spin while they wait for work: spinning threads
compete with PyTorch's own in the same process (spinning on halved the speed in a probe).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xmem.errors import XMemError
from xmem.model.aggregate import aggregate
from xmem.model.network import KeyFeatures, ModelConfig, XMem, object_chunks

logger = logging.getLogger(__name__)


def check_runtime() -> None:
    """An XMemError saying how to install ONNX Runtime when it is missing."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise XMemError(
            f"the ONNX backend needs the onnx extra ({exc.name} is missing): "
            "pip install 'xmem[onnx]'"
        ) from exc


def session(path: Path, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session for the graph at ``path``, its threads not spinning;
    ``threads`` 0: as many as PyTorch uses."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an export folder, checked: format, version and every graph's hash."""
    from xmem.model.onnx_export import FORMAT, MANIFEST, VERSION, file_sha256

    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise XMemError(f"'{folder}' is not an ONNX export: it has no {MANIFEST}") from exc
    except (OSError, ValueError) as exc:
        raise XMemError(f"cannot read '{path}': {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise XMemError(f"'{path}' is not an {FORMAT} manifest of version {VERSION}")
    for name, graph in manifest["graphs"].items():
        file = folder / graph["file"]
        if not file.is_file():
            raise XMemError(f"the {name} graph '{file}' is missing")
        if file_sha256(file) != graph["sha256"]:
            raise XMemError(f"the {name} graph '{file}' does not match its manifest (sha256)")
    return manifest


class OnnxXMem:
    """XMem's stages run by ONNX Runtime from the export folder ``folder``.

    Like a loaded :class:`~xmem.model.network.XMem`, it has a ``config``, a ``default_size``
    and a ``default_flip`` (the manifest's; no flip in manifests written before it) and no
    test-time adaptation (``default_adapt_steps`` 0: adaptation trains the network, which
    needs PyTorch).
    """

    default_adapt_steps = 0
    device = torch.device("cpu")

    def __init__(self, folder: str | Path, threads: int = 0) -> None:
        check_runtime()
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self.config = ModelConfig(**_tuples(self.manifest["config"]))
        self.default_size = int(self.manifest["default_size"])
        self.default_flip = bool(self.manifest.get("default_flip", False))
        self.sessions = {
            name: session(self.folder / graph["file"], threads)
            for name, graph in self.manifest["graphs"].items()
        }

    @property
    def key_dim(self) -> int:
        return self.config.key_dim

    @property
    def value_dim(self) -> int:
        return self.config.value_dim

    @property
    def hidden_dim(self) -> int:
        return self.config.hidden_dim

    def _run(self, graph: str, **inputs: Tensor) -> list[Tensor]:
        feed = {
            name: value.detach().float().cpu().contiguous().numpy()
            for name, value in inputs.items()
        }
        return [torch.from_numpy(np.asarray(o)) for o in self.sessions[graph].run(None, feed)]

    def encode_key(
        self, image: Tensor, need_shrinkage: bool = True, need_selection: bool = True
    ) -> KeyFeatures:
        """As :meth:`XMem.encode_key` (the graph computes every output; those not asked for
        are dropped)."""
        key, shrinkage, selection, f16, f8, f4 = self._run("key_encoder", image=image)
        return KeyFeatures(
            key,
            shrinkage if need_shrinkage else None,
            selection if need_selection else None,
            f16,
            f8,
            f4,
        )

    def encode_value(
        self,
        image: Tensor,
        f16: Tensor,
        hidden: Tensor | None,
        masks: Tensor,
        deep_update: bool = True,
        chunk: int = 0,
    ) -> tuple[Tensor, Tensor | None]:
        """As :meth:`XMem.encode_value`."""
        others = (
            masks.sum(dim=1, keepdim=True) - masks
            if masks.shape[1] > 1
            else torch.zeros_like(masks)
        )
        values, hiddens = [], []
        for part in object_chunks(masks.shape[1], chunk):
            extra = (
                {"hidden": hidden[:, part]} if self.hidden_dim > 0 and hidden is not None else {}
            )
            out = self._run(
                "value_encoder",
                image=image,
                f16=f16,
                masks=masks[:, part],
                others=others[:, part],
                **extra,
            )
            values.append(out[0])
            hiddens.append(
                out[1]
                if deep_update and len(out) > 1
                else (hidden[:, part] if hidden is not None else None)
            )
        value = torch.cat(values, dim=1)
        new_hidden = (
            None
            if any(h is None for h in hiddens)
            else torch.cat([h for h in hiddens if h is not None], dim=1)
        )
        return value, new_hidden

    def segment(
        self,
        features: tuple[Tensor, Tensor, Tensor],
        memory_readout: Tensor,
        hidden: Tensor | None,
        selector: Tensor | None = None,
        update_hidden: bool = True,
        chunk: int = 0,
    ) -> tuple[Tensor | None, Tensor, Tensor]:
        """As :meth:`XMem.segment`."""
        f16, f8, f4 = features
        logits_parts, hiddens = [], []
        for part in object_chunks(memory_readout.shape[1], chunk):
            extra = (
                {"hidden": hidden[:, part]} if self.hidden_dim > 0 and hidden is not None else {}
            )
            out = self._run(
                "decoder", f16=f16, f8=f8, f4=f4, readout=memory_readout[:, part], **extra
            )
            logits_parts.append(out[0])
            hiddens.append(out[1] if len(out) > 1 else None)
        logits = torch.cat(logits_parts, dim=1)
        new_hidden = None
        if update_hidden and self.hidden_dim > 0:
            new_hidden = torch.cat([h for h in hiddens if h is not None], dim=1)
        prob = torch.sigmoid(logits.float())
        if selector is not None:
            prob = prob * selector
        logits, prob = aggregate(prob, dim=1)
        return new_hidden, logits, prob


def _tuples(config: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples of :class:`ModelConfig`."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


# What the inference engine runs: the PyTorch network or its ONNX graphs.
Network = XMem | OnnxXMem
