"""The training loop: one stage, on one or many processes (DistributedDataParallel).

Exact resume: the data items depend only on (seed, index, epoch), the sampler's order only on
(seed, epoch), and the random choices of each step on (seed, iteration); a checkpoint holds the
model, optimiser, scheduler, AMP scaler and iteration, so training from a checkpoint continues
exactly as an uninterrupted run would.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.std import tqdm

from xmem.inference.image import IMAGENET_MEAN, IMAGENET_STD
from xmem.io.output import atomic_output_file
from xmem.model.network import (
    XMem,
    backbone_batchnorms,
    backbone_parameters,
    freeze_early_blocks,
    init_imagenet_backbones,
    random_network,
)
from xmem.runtime import distributed
from xmem.runtime.distributed import Worker
from xmem.train.clips import build_dataset
from xmem.train.config import StageConfig
from xmem.train.data import ClipDataset
from xmem.train.forward import ClipOutput, clip_forward
from xmem.train.loss import bootstrap_fraction, step_loss

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pth"  # everything needed to resume
WEIGHTS = "model.pth"  # the network's state dict, loadable by xmem.load_network
EPOCH_ITERATIONS = 1000  # an epoch of the (randomly sampled) clips, for the sampler's order


class ClipModel(nn.Module):
    """The network with a ``forward`` over clips, for DistributedDataParallel."""

    def __init__(self, network: XMem, config: StageConfig) -> None:
        super().__init__()
        self.network = network
        self.config = config

    def forward(
        self, rgb: Tensor, masks: Tensor, valid: Tensor, generator: torch.Generator
    ) -> ClipOutput:
        c = self.config
        return clip_forward(
            self.network, rgb, masks, valid, generator, c.num_ref, c.deep_update_prob
        )

    def train(self, mode: bool = True) -> ClipModel:
        super().train(mode)
        if self.config.freeze_backbone_bn:
            for bn in backbone_batchnorms(self.network):
                bn.eval()  # batch statistics of a few small crops would wash out ImageNet's
        return self


def build_network(config: StageConfig, device: torch.device) -> XMem:
    if config.init is not None:
        from xmem.model.weights import from_pretrained

        network = from_pretrained(config.init, device=device)
    else:
        network = random_network(config.model, config.seed)
        if config.init_backbone == "imagenet":
            init_imagenet_backbones(network)
    if config.frozen_blocks:
        freeze_early_blocks(network, config.frozen_blocks)
    if config.channels_last:
        network = network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return network.to(device).train()


def parameter_groups(network: XMem, config: StageConfig) -> list[dict[str, Any]]:
    """The optimiser's groups: the pretrained trunks at ``lr × backbone_lr_scale``, the rest at
    ``lr`` (one group when the scale is 1, as checkpoints from before the option have)."""
    trunk = (
        {id(p) for p in backbone_parameters(network)} if config.backbone_lr_scale != 1 else set()
    )
    params = list(network.parameters())
    groups: list[dict[str, Any]] = [{"params": [p for p in params if id(p) not in trunk]}]
    if trunk:
        scaled = [p for p in params if id(p) in trunk]
        groups.append({"params": scaled, "lr": config.lr * config.backbone_lr_scale})
    return groups


class Trainer:
    """Trains one stage; writes ``checkpoint.pth``, ``model.pth``, ``metrics.jsonl`` and
    TensorBoard logs (when the ``tensorboard`` package is installed) into ``out``."""

    def __init__(
        self,
        config: StageConfig,
        out: str | Path,
        device: torch.device,
        worker: Worker | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.out = Path(out)
        self.device = device
        self.worker = worker or Worker()
        self.progress = progress and self.worker.rank == 0
        self.network = build_network(config, device)
        model: nn.Module = ClipModel(self.network, config)
        if self.worker.world_size > 1:
            ids = [device.index] if device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
        self.model = model
        self.optimizer = torch.optim.AdamW(
            parameter_groups(self.network, config), lr=config.lr, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(config.lr_steps), gamma=0.1
        )
        self.use_amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.iteration = 0
        self.writer: Any = None
        self._last_out: ClipOutput | None = None

    # -- checkpoints -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "config": self.config.to_dict(),
        }

    def save(self) -> None:
        if self.worker.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with atomic_output_file(self.out / CHECKPOINT) as tmp:
            torch.save(self.state(), tmp)
        with atomic_output_file(self.out / WEIGHTS) as tmp:
            torch.save(self.network.state_dict(), tmp)
        if self.config.keep_every and self.iteration % self.config.keep_every == 0:
            shutil.copyfile(self.out / WEIGHTS, self.out / f"model-{self.iteration}.pth")
        logger.debug("saved iteration %d to %s", self.iteration, self.out)

    def load(self, path: str | Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        logger.info("resumed from %s at iteration %d", path, self.iteration)

    # -- the loop ----------------------------------------------------------------------

    def _loader(self, dataset: ClipDataset, epoch: int, skip: int) -> DataLoader[dict[str, Tensor]]:
        """Batches of this rank for ``epoch``, without the first ``skip`` batches."""
        sampler: DistributedSampler[int] = DistributedSampler(
            dataset,
            num_replicas=self.worker.world_size,
            rank=self.worker.rank,
            shuffle=True,
            seed=self.config.seed,
            drop_last=True,
        )
        sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        indices = list(sampler)[skip * self.config.batch_size :]
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=indices,
            num_workers=self.config.num_workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
        )

    def train(self) -> dict[str, float]:
        """Run the stage to ``config.iterations``; returns the last logged losses."""
        c = self.config
        world = self.worker.world_size
        dataset = build_dataset(c, samples=EPOCH_ITERATIONS * c.batch_size * world)
        batches_per_epoch = len(dataset) // (c.batch_size * world)
        if batches_per_epoch == 0:
            raise ValueError("the dataset is smaller than one batch")
        self._open_writer()
        bar = tqdm(
            total=c.iterations,
            initial=self.iteration,
            unit="it",
            desc=f"train {c.stage}",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        last: dict[str, float] = {}
        while self.iteration < c.iterations:
            epoch, skip = divmod(self.iteration, batches_per_epoch)
            for batch in self._loader(dataset, epoch, skip):
                last = self._step(batch)
                self.iteration += 1
                bar.update()
                bar.set_postfix(loss=f"{last['loss']:.3f}")
                self._periodic(last, batch)
                if self.iteration >= c.iterations:
                    break
        bar.close()
        self.save()
        if self.writer is not None:
            self.writer.close()
        return last

    def _step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        c = self.config
        rgb = batch["rgb"].to(self.device, non_blocking=True)
        masks = batch["masks"].to(self.device, non_blocking=True)
        valid = batch["valid"].to(self.device, non_blocking=True)
        generator = torch.Generator().manual_seed(
            c.seed * 1_000_003 + self.iteration * 101 + self.worker.rank
        )
        self.model.train()
        with torch.autocast(self.device.type, enabled=self.use_amp):
            out = self.model(rgb, masks, valid, generator)
        fraction = bootstrap_fraction(
            self.iteration, c.bootstrap_start, c.bootstrap_end, c.bootstrap_top_p
        )
        losses = step_loss(out, masks, valid, fraction)
        self.optimizer.zero_grad(set_to_none=True)
        # torch.autograd.backward: what Tensor.backward calls, but annotated
        torch.autograd.backward(self.scaler.scale(losses["loss"]))
        self.scaler.unscale_(self.optimizer)
        if c.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.network.parameters(), c.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self._last_out = out
        return {k: float(v.detach()) for k, v in losses.items()}

    def _periodic(self, losses: dict[str, float], batch: dict[str, Tensor]) -> None:
        c, it = self.config, self.iteration
        if self.worker.rank == 0 and (it % c.log_every == 0 or it == c.iterations):
            record = {"iteration": it, "lr": self.scheduler.get_last_lr()[0], **losses}
            self._log(record)
        if (
            self.worker.rank == 0
            and self.writer is not None
            and self._last_out is not None
            and it % c.image_every == 0
        ):
            self.writer.add_image("clip", clip_grid(batch, self._last_out), it)
        if it % c.save_every == 0 and it < c.iterations:
            self.save()
        if c.val_data and it % c.val_every == 0 and self.worker.rank == 0:
            self._log({"iteration": it, "val_J&F": self.validate()})

    def _open_writer(self) -> None:
        if self.worker.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning("tensorboard is not installed: no TensorBoard logs (metrics.jsonl only)")
            return
        self.writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.iteration)

    def _log(self, record: dict[str, Any]) -> None:
        with open(self.out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "iteration":
                    self.writer.add_scalar(key, value, record["iteration"])

    def validate(self) -> float:
        """J&F of the current network on the validation dataset (official protocol)."""
        from xmem.data import load_dataset
        from xmem.eval.report import summarize
        from xmem.eval.runner import evaluate_sequences, xmem_predictor

        c = self.config
        assert c.val_data is not None
        dataset = load_dataset(c.val_data, split=c.val_split, sequences=c.val_sequences or None)
        self.network.eval()
        try:
            with tempfile.TemporaryDirectory(prefix="xmem-val-") as tmp:
                records = evaluate_sequences(
                    dataset,
                    range(len(dataset.sequences)),
                    Path(tmp),
                    predictor=xmem_predictor(self.network),
                    resume=False,
                    progress=False,
                )
        finally:
            self.network.train()
        score = summarize(records, [], {}).summary.jf_mean
        logger.info("iteration %d: validation J&F %.1f", self.iteration, 100 * (score or 0))
        return float(score or 0.0)


def clip_grid(batch: dict[str, Tensor], out: ClipOutput) -> Tensor:
    """An image for TensorBoard: the first clip's frames (top) and predicted masks (bottom)."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    frames = (batch["rgb"][0].cpu() * std + mean).clamp(0, 1)  # T×3×H×W
    colours = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float)
    preds = [batch["masks"][0, 0].cpu().float()]
    preds += [p[0, 1:].detach().float().cpu() for p in out.prob]
    masks = []
    for p in preds:
        with_bg = torch.cat([1 - p.sum(0, keepdim=True).clamp(0, 1), p])
        k = min(with_bg.shape[0], len(colours))
        masks.append(torch.einsum("khw,kc->chw", with_bg[:k], colours[:k]))
    top = torch.cat(list(frames), dim=2)
    bottom = torch.cat(masks, dim=2)
    return torch.cat([top, bottom], dim=1)


def run_training(
    config: StageConfig,
    out: str | Path,
    device: torch.device,
    resume: bool = True,
    worker: Worker | None = None,
    init_method: str | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train one stage (joining the process group when there are several processes)."""
    worker = worker or Worker()
    distributed.init(worker, device, init_method)
    try:
        trainer = Trainer(config, out, device, worker, progress)
        checkpoint = Path(out) / CHECKPOINT
        if resume and checkpoint.is_file():
            trainer.load(checkpoint)
        return trainer.train()
    finally:
        distributed.finish()
