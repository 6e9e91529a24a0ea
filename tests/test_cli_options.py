"""cli/options.py: the one place where config field names become command-line flags."""

from __future__ import annotations

import dataclasses

import pytest

from xmem.cli.flags import given
from xmem.cli.main import build_parser
from xmem.cli.options import flag, flag_message, option_errors, track_options
from xmem.errors import ConfigError, XMemError
from xmem.inference.options import TrackOptions
from xmem.train.config import StageConfig


def test_flag_names() -> None:
    assert flag("top_k") == "--top-k"
    assert flag("enable_long_term") == "--disable-long-term"
    assert flag("references", {"references": "--person-references"}) == "--person-references"


def test_flag_message_replaces_only_the_named_fields() -> None:
    error = ConfigError(
        "max_mid_term_frames must be larger than min_mid_term_frames (frames)",
        "max_mid_term_frames",
        "min_mid_term_frames",
    )
    assert flag_message(error) == (
        "--max-mid-term-frames must be larger than --min-mid-term-frames (frames)"
    )
    assert flag_message(ConfigError("height and width must be even", "height", "width")) == (
        "--height and --width must be even"
    )
    assert flag_message(ConfigError("no field here")) == "no field here"


def test_option_errors_turn_config_errors_into_flag_errors() -> None:
    with pytest.raises(XMemError, match="^--crop must be a multiple of 16") as caught:
        with option_errors():
            StageConfig(stage="synthetic", crop=30)
    assert not isinstance(caught.value, ConfigError)  # the library's words stay in the cause
    assert isinstance(caught.value.__cause__, ConfigError)
    assert caught.value.__cause__.fields == ("crop",)


def test_track_options_from_the_command_line() -> None:
    base = ["track", "in", "-m", "m.png", "-o", "out"]
    parser = build_parser()
    options = track_options(parser.parse_args([*base, "--size", "-1", "--top-k", "7"]))
    assert isinstance(options, TrackOptions)
    assert (options.size, options.config.top_k, options.precision) == (-1, 7, "fp32")
    with pytest.raises(XMemError, match="^--size must be positive"):
        track_options(parser.parse_args([*base, "--size", "0"]))
    with pytest.raises(XMemError, match="--top-k must be at least 1"):
        track_options(parser.parse_args([*base, "--top-k", "0"]))
    serve = parser.parse_args(["serve"])  # precision left to the command
    assert track_options(serve, precision="fp16").precision == "fp16"


def test_every_config_field_is_a_flag_made_one_way() -> None:
    """The flags of track and train are generated from the config dataclasses: a new field
    is a new flag, parsed to the field's type, with nothing else to write."""
    from xmem.inference.config import InferenceConfig
    from xmem.inference.speed import SpeedOptions

    parser = build_parser()
    track = parser.parse_args(["track", "in", "-m", "m.png", "-o", "out"])
    train = parser.parse_args(["train", "-o", "run", "--stage", "synthetic"])
    for config, args, skip in (
        (InferenceConfig, track, {"enable_long_term_count_usage"}),
        (SpeedOptions, track, set()),
        (TrackOptions, track, {"config", "speed"}),
        (StageConfig, train, set()),
    ):
        for f in dataclasses.fields(config):
            if f.name not in skip:
                assert hasattr(args, f.name), f"{config.__name__}.{f.name} has no flag"
    assert given(StageConfig, train) == {"stage": "synthetic"}  # nothing else was given


def test_generated_flags_parse_to_the_field_types() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["train", "-o", "r", "--lr-steps", "10,20", "--val-sequences", "a, b", "--no-amp"]
    )
    assert given(StageConfig, args) == {
        "lr_steps": (10, 20),
        "val_sequences": ("a", "b"),
        "amp": False,
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "-o", "r", "--lr-steps", "10,x"])
    base = ["track", "in", "-m", "m.png", "-o", "out"]
    options = track_options(parser.parse_args([*base, "--disable-long-term", "--adapt", "3"]))
    assert (options.config.enable_long_term, options.adapt_steps) == (False, 3)
    eager = track_options(parser.parse_args([*base, "--eager", "--channels-last", "all"]))
    assert (eager.speed.fold_bn, eager.speed.channels_last) == (False, "all")  # eager, then flags
