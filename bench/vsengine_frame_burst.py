"""Frames/s when a whole clip is requested at once with ``vsengine.video.frame`` (a ``gather``).

Two ways, each measurement in a fresh process, rounds alternating, medians reported:

1. ``queued`` (what vsengine does): VapourSynth gets two requests per thread of the core at a
   time, the rest wait in vsengine's admission queue (``vsengine._admission``).
2. ``all-at-once``: the admission limit lifted, so every request goes to VapourSynth at once
   (what ``get_frame_async`` in a loop does).

Clips: ``small`` (64x64 GRAY8 BlankClip frames: the per-request cost) at several burst sizes, and
``blur`` (BoxBlur'd 1280x720 YUV420P8: real work per frame).

    nox -s bench_burst -- [--rounds 3] [--sizes 1000 3000 6000] [--per-thread 4 8]

Needs VapourSynth (Python 3.12+); run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

MODES = ("queued", "all-at-once")


def measure(mode: str, clip_name: str, count: int) -> float:
    """Frames/s of one burst of `count` requests (run in a child process)."""
    import vapoursynth as vs

    import vsengine._admission
    from vsengine.adapters.asyncio import AsyncIOLoop
    from vsengine.loops import set_loop
    from vsengine.policy import GlobalStore, Policy
    from vsengine.video import frame

    if mode == "all-at-once":
        vsengine._admission.PER_THREAD = 1 << 30
    elif mode != "queued":
        vsengine._admission.PER_THREAD = int(mode.removeprefix("queued-"))

    async def burst() -> float:
        set_loop(AsyncIOLoop())
        with Policy(GlobalStore()) as policy, policy.new_environment() as env:
            with env.use():
                if clip_name == "small":
                    clip = vs.core.std.BlankClip(width=64, height=64, format=vs.GRAY8, length=count)
                elif clip_name == "small-blur":
                    clip = vs.core.std.BlankClip(width=64, height=64, format=vs.GRAY8, length=count)
                    clip = clip.std.BoxBlur(hradius=4, vradius=4, hpasses=2, vpasses=2)
                else:
                    clip = vs.core.std.BlankClip(width=1280, height=720, format=vs.YUV420P8, length=count)
                    clip = clip.std.BoxBlur(hradius=4, vradius=4, hpasses=2, vpasses=2)
            started = time.perf_counter()
            got = await asyncio.gather(*(frame(clip, n, env) for n in range(count)))
            took = time.perf_counter() - started
            for f in got:
                f.close()
            del got, clip
        return count / took

    return asyncio.run(burst())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 6000])
    parser.add_argument("--blur-frames", type=int, default=300)
    parser.add_argument(
        "--per-thread", type=int, nargs="*", default=[], help="also measure these admission limits"
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CLIP", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, clip_name, count = args.child
        print(json.dumps(measure(mode, clip_name, int(count))))
        return
    cells = [(name, n) for name in ("small", "small-blur") for n in args.sizes] + [("blur", args.blur_frames)]
    modes = (*MODES, *(f"queued-{n}" for n in args.per_thread))
    results: dict[tuple[str, int, str], list[float]] = {}
    for _ in range(args.rounds):
        for clip_name, count in cells:
            for mode in modes:
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.vsengine_frame_burst",
                        "--child",
                        mode,
                        clip_name,
                        str(count),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                results.setdefault((clip_name, count, mode), []).append(json.loads(out.splitlines()[-1]))
    print(f"rounds: {args.rounds}, medians; frames/s of one gather over every frame")
    print()
    extra = modes[len(MODES) :]
    extra_columns = "".join(f" {mode} |" for mode in extra)
    print(f"| clip | requests at once | queued | all at once | queued / all at once |{extra_columns}")
    print("|---|---|---|---|---|" + "---|" * len(extra))
    for clip_name, count in cells:
        queued = statistics.median(results[clip_name, count, "queued"])
        direct = statistics.median(results[clip_name, count, "all-at-once"])
        others = "".join(f" {statistics.median(results[clip_name, count, m]):.0f} |" for m in extra)
        print(f"| {clip_name} | {count} | {queued:.0f} | {direct:.0f} | {queued / direct:.2f}x |{others}")


if __name__ == "__main__":
    main()
