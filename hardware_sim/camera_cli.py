"""`posagent-sim camera`: camera input OpenCV can open: an image, an MJPG .avi video, or a live stream.

    posagent-sim camera --content 286543210987654321 --angle 15 --blur 1 --noise 6 --out scene.avi
    posagent-sim camera --scene empty --out clutter.png
    posagent-sim camera --images a.png b.jpg --out photos.avi
    posagent-sim camera --serve --port 8554      # a live camera: prints its URL, reads stdin

Point the agent's camera source (or `posagent scan-test --camera`) at the written file or URL.
With --serve, each stdin line is the content of a QR to hold in front of the camera; `!clear`
takes it away, `!unplug` / `!replug` pull and plug the camera, `!quit` ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardware_sim.camera import Scene, image_files_frames, render, scene_frames, write_image, write_video
from hardware_sim.camera_stream import CameraStreamSimulator

VIDEO_SUFFIXES = {".avi"}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "camera", help="synthesised camera scenes, image files or video files for the camera scanner",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--out", help="output file: .png/.jpg (one frame) or .avi (MJPG video)")
    output.add_argument("--serve", action="store_true", help="serve a live MJPEG stream on loopback instead")
    parser.add_argument("--port", type=int, default=0, help="--serve port (default: a free one)")
    parser.add_argument("--scene", choices=["qr", "empty"], default="qr", help="a QR on clutter, or clutter only")
    parser.add_argument("--content", default="https://example.com/", help="text of the QR code")
    parser.add_argument("--size", type=int, default=200, help="QR side in pixels")
    parser.add_argument("--angle", type=float, default=0.0, help="rotation in degrees")
    parser.add_argument("--blur", type=float, default=0.0, help="Gaussian blur sigma in pixels")
    parser.add_argument("--noise", type=float, default=0.0, help="sensor noise sigma in grey levels")
    parser.add_argument("--frame", default="640x480", help="frame size WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=60, help="video length in frames")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", nargs="+", metavar="FILE", help="make the video from these image files")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        width, height = (int(v) for v in args.frame.lower().split("x"))
    except ValueError:
        print(f"error: --frame must look like 640x480, not {args.frame!r}", file=sys.stderr)
        return 2
    if args.serve:
        return serve(args, width, height)
    out = Path(args.out)
    is_video = out.suffix.lower() in VIDEO_SUFFIXES
    try:
        if args.images:
            if not is_video:
                print("error: --images needs a video output (.avi)", file=sys.stderr)
                return 2
            count = write_video(out, image_files_frames(args.images, width, height), args.fps)
        else:
            content = args.content if args.scene == "qr" else None
            scene = Scene(content, args.size, args.angle, args.blur, args.noise, width, height, seed=args.seed)
            if is_video:
                count = write_video(out, scene_frames(scene, args.frames), args.fps)
            else:
                write_image(out, render(scene))
                count = 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{out} ({count} frame{'s' if count != 1 else ''}, {width}x{height})")
    return 0


def serve(args: argparse.Namespace, width: int, height: int) -> int:
    def scene(content: str | None) -> Scene:
        return Scene(content, args.size, args.angle, args.blur, args.noise, width, height, seed=args.seed)

    with CameraStreamSimulator(port=args.port, fps=args.fps) as camera:
        camera.show(scene(args.content if args.scene == "qr" else None))
        print(camera.url, flush=True)
        for line in sys.stdin:
            command = line.rstrip("\r\n")
            if command == "!quit":
                break
            if command == "!unplug":
                camera.unplug()
            elif command == "!replug":
                camera.replug()
            elif command == "!clear":
                camera.show(scene(None))
            elif command:
                camera.show(scene(command))
    return 0
