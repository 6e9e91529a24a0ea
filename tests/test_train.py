"""Training: the loss, the clip forward pass, the loop (loss decreases, exact resume), DDP with
two CPU processes, and the command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.nets import TINY, tiny_network
from tests.scene import N, frame, ids
from xmem.cli.main import main
from xmem.model.checkpoint import load_network
from xmem.model.network import MODELS
from xmem.model.resnet import ResNetTrunk
from xmem.runtime.distributed import Worker
from xmem.train.config import StageConfig
from xmem.train.forward import clip_forward, reference_frames
from xmem.train.loss import bootstrap_fraction, bootstrapped_ce, class_target, dice_loss
from xmem.train.trainer import CHECKPOINT, WEIGHTS, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODELS, "tiny", TINY)


def make_davis(root: Path) -> Path:
    for seq in ("a", "b"):
        folder = root / "JPEGImages" / "480p" / seq
        masks = root / "Annotations" / "480p" / seq
        folder.mkdir(parents=True)
        masks.mkdir(parents=True)
        for t in range(N):
            Image.fromarray(frame(t)).save(folder / f"{t:05d}.jpg", quality=95)
            obj = 1 if seq == "a" else 2
            mask = (ids(t, obj) > 0).astype(np.uint8) * 255
            Image.fromarray(mask, mode="L").save(masks / f"{t:05d}.png")
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "train.txt").write_text("a\nb\n")
    return root


def config(data: Path | None, **kw: object) -> StageConfig:
    base: dict = dict(
        stage="video" if data else "synthetic",
        data=str(data) if data else None,
        model="tiny",
        iterations=4,
        batch_size=2,
        lr=1e-3,
        num_frames=3,
        crop=32,
        max_jump=3,
        num_workers=0,
        log_every=1,
        image_every=2,
        save_every=2,
        bootstrap_start=2,
        bootstrap_end=4,
    )
    base.update(kw)
    return StageConfig.from_dict(base)


# -- loss --------------------------------------------------------------------------------


def test_bootstrap_schedule() -> None:
    assert bootstrap_fraction(0) == 1.0 and bootstrap_fraction(19_999) == 1.0
    assert bootstrap_fraction(45_000) == pytest.approx(1 - 0.85 * 0.5)
    assert bootstrap_fraction(70_000) == 0.15 and bootstrap_fraction(10**6) == 0.15


def test_bootstrapped_ce_keeps_the_hardest_pixels() -> None:
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    full = F.cross_entropy(logits, target, reduction="none").flatten(1)
    assert bootstrapped_ce(logits, target, 1.0) == pytest.approx(float(full.mean()))
    hardest = full.sort(dim=1, descending=True).values[:, :16].mean()
    assert bootstrapped_ce(logits, target, 0.25) == pytest.approx(float(hardest))


def test_dice_and_targets() -> None:
    masks = torch.zeros(1, 2, 4, 4)
    masks[0, 0, :2] = 1
    masks[0, 1, 3, 3] = 1
    assert class_target(masks)[0].tolist()[0] == [1, 1, 1, 1]
    assert class_target(masks)[0, 3, 3] == 2 and class_target(masks)[0, 2, 0] == 0
    valid = torch.tensor([[True, True]])
    assert dice_loss(masks, masks, valid) == pytest.approx(0.0)
    assert dice_loss(1 - masks, masks, torch.tensor([[True, False]])) == pytest.approx(1 - 1 / 17)


# -- forward -----------------------------------------------------------------------------


def test_reference_frames() -> None:
    g = torch.Generator().manual_seed(0)
    assert reference_frames(2, 3, 2, g).tolist() == [[0, 1], [0, 1]]
    ref = reference_frames(7, 3, 4, g)
    assert ref.shape == (4, 3) and (ref[:, 0] == 0).all()
    assert ((ref[:, 1:] >= 1) & (ref[:, 1:] < 7)).all()
    assert all(len(set(row.tolist())) == 3 for row in ref)


def test_clip_forward_shapes_and_gradients() -> None:
    net = tiny_network().train()
    b, t, k, s = 2, 5, 3, 32
    rgb = torch.randn(b, t, 3, s, s)
    masks = torch.zeros(b, t, k, s, s)
    masks[:, :, 0, 4:12, 4:12] = 1
    valid = torch.tensor([[True, False, False], [True, False, False]])
    out = clip_forward(net, rgb, masks, valid, torch.Generator().manual_seed(0))
    assert len(out.logits) == t - 1 and out.prob[0].shape == (b, k + 1, s, s)
    assert torch.allclose(out.prob[0].sum(1), torch.ones(b, s, s), atol=1e-5)
    assert out.prob[-1][:, 2:].abs().max() < 1e-3  # absent objects are selected out
    torch.stack([p.sum() for p in out.prob]).sum().backward()
    assert isinstance(net.key_encoder, ResNetTrunk)
    assert net.key_encoder.conv1.weight.grad is not None


# -- the loop ----------------------------------------------------------------------------


@pytest.mark.slow
def test_training_decreases_the_loss(tmp_path: Path) -> None:
    data = make_davis(tmp_path / "davis")
    trainer = Trainer(
        config(data, iterations=40, paste_prob=0.0, bootstrap_start=1000, lr=3e-4),
        tmp_path / "run",
        torch.device("cpu"),
    )
    trainer.train()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert len(losses) == 40
    assert np.mean(losses[-10:]) < 0.75 * np.mean(losses[:10])
    assert (tmp_path / "run" / "tensorboard").is_dir()
    net = load_network(tmp_path / "run" / WEIGHTS)
    assert net.config == TINY


@pytest.mark.slow
def test_periodic_validation_logs_jf(tmp_path: Path) -> None:
    data = make_davis(tmp_path / "davis")
    cfg = config(data, iterations=4, val_data=str(data), val_split="train", val_every=2)
    Trainer(cfg, tmp_path / "run", torch.device("cpu")).train()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    scores = [(r["iteration"], r["val_J&F"]) for r in records if "val_J&F" in r]
    assert [it for it, _ in scores] == [2, 4]
    assert all(0.0 <= jf <= 1.0 for _, jf in scores)


def test_resume_is_exact(tmp_path: Path) -> None:
    data = make_davis(tmp_path / "davis")
    run = dict(backbone_lr_scale=0.5, keep_every=2)  # two learning rates, kept snapshots
    straight = Trainer(config(data, **run), tmp_path / "straight", torch.device("cpu"))
    straight.train()
    assert [g["lr"] for g in straight.optimizer.param_groups] == [1e-3, 5e-4]
    kept = sorted(p.name for p in (tmp_path / "straight").glob("model-*.pth"))
    assert kept == ["model-2.pth", "model-4.pth"]
    final = torch.load(tmp_path / "straight" / "model-4.pth", weights_only=True)
    assert all(torch.equal(final[k], v) for k, v in straight.network.state_dict().items())
    first = Trainer(config(data, iterations=2, **run), tmp_path / "resumed", torch.device("cpu"))
    first.train()
    second = Trainer(config(data, **run), tmp_path / "resumed", torch.device("cpu"))
    second.load(tmp_path / "resumed" / CHECKPOINT)
    assert second.iteration == 2
    second.train()
    a, b = straight.network.state_dict(), second.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = straight.optimizer.state_dict()["state"], second.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)


def test_synthetic_stage_and_worker_defaults(tmp_path: Path) -> None:
    trainer = Trainer(config(None, iterations=2), tmp_path / "syn", torch.device("cpu"), Worker())
    losses = trainer.train()
    assert np.isfinite(losses["loss"]) and (tmp_path / "syn" / CHECKPOINT).is_file()


# -- command line ------------------------------------------------------------------------


def xmem_train(caplog: pytest.LogCaptureFixture, *args: object) -> tuple[int, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        code = main(["train", "--no-progress", *map(str, args)])
    return code, [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.slow
def test_cli_ddp_two_processes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = make_davis(tmp_path / "davis")
    weights = tmp_path / "tiny.pth"  # spawned processes do not see the "tiny" architecture
    torch.save(tiny_network().state_dict(), weights)
    cfg = tmp_path / "stage.json"
    cfg.write_text(json.dumps(config(data, iterations=3, init=str(weights)).to_dict()))
    code, errors = xmem_train(caplog, "--config", cfg, "--out", tmp_path / "run", "--workers", 2)
    assert code == 0, errors
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert state["iteration"] == 3
    # resuming a finished stage does nothing more; a longer one continues from the checkpoint
    code, errors = xmem_train(caplog, "--config", cfg, "--out", tmp_path / "run", "--iterations", 4)
    assert code == 0, errors
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["iteration"] == 4


def test_cli_rejects_bad_options(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    code, errors = xmem_train(caplog, "--stage", "video", "--out", tmp_path / "r")
    assert code == 2 and "--data" in errors[0]
    code, errors = xmem_train(caplog, "--stage", "nope", "--out", tmp_path / "r")
    assert code == 2 and "nope" in errors[0]
    code, errors = xmem_train(caplog, "--stage", "synthetic", "--crop", 30, "--out", tmp_path / "r")
    assert code == 2 and "multiple of 16" in errors[0]
    code, errors = xmem_train(
        caplog, "--stage", "video", "--data", tmp_path, "--out", tmp_path / "r", "--iterations", 1
    )
    assert code == 2 and "not a dataset" in errors[0]
