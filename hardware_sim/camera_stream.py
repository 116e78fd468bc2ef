"""A live simulated camera: an MJPEG-over-HTTP stream on loopback that OpenCV opens by URL.

Unlike a video file, what the camera sees can change while the agent watches it (a customer
holds up a payment code, then takes the phone away), and the camera can be unplugged
(the server stops, connections drop) and plugged back on the same URL.

    with CameraStreamSimulator() as cam:          # cv2.VideoCapture(cam.url) works
        cam.show(Scene("286543210987654321"))     # the code is in view
        cam.show(Scene(None))                     # only the counter's clutter
        cam.unplug(); cam.replug()
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from hardware_sim.camera import Frame, Scene, add_noise, render

BOUNDARY = "posagentframe"


class CameraStreamSimulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, fps: float = 15.0, noise: float = 3.0) -> None:
        self.host = host
        self.fps = fps
        self.noise = noise
        self._lock = threading.Lock()
        self._frame: Frame = render(Scene(None))
        self._version = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = port
        self.frames_served = 0
        self.connections: set[socket.socket] = set()  # open streams (set ops are atomic under the GIL)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}/video.mjpg"

    def show(self, scene: Scene | Frame) -> None:
        """Put a scene (or a ready BGR frame) in front of the camera."""
        frame = render(scene) if isinstance(scene, Scene) else scene
        with self._lock:
            self._frame = frame
            self._version += 1

    def current(self) -> tuple[int, Frame]:
        with self._lock:
            return self._version, self._frame

    def replug(self) -> None:
        if self._server is not None:
            return
        simulator = self

        class Handler(_StreamHandler):
            camera = simulator

        self._server = ThreadingHTTPServer((self.host, self._port), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]  # keep the same port across replugs
        self._thread = threading.Thread(target=self._server.serve_forever, name="camera stream", daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        for connection in list(self.connections):  # live streams drop too, as with a pulled USB cable
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    @property
    def plugged(self) -> bool:
        return self._server is not None

    def __enter__(self) -> CameraStreamSimulator:
        self.replug()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unplug()


class _StreamHandler(BaseHTTPRequestHandler):
    camera: CameraStreamSimulator

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and the simulated store read their own output

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/video.mjpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.camera.connections.add(self.connection)
        period = 1.0 / self.camera.fps
        frame_number = 0
        try:
            while True:
                _, frame = self.camera.current()
                frame_number += 1
                noisy = add_noise(frame, self.camera.noise, np.random.default_rng(frame_number))
                ok, jpeg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 90])
                if not ok:
                    continue
                data = jpeg.tobytes()
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n".encode())
                self.wfile.write(f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
                self.camera.frames_served += 1
                time.sleep(period)
        except (OSError, ValueError):
            return  # the viewer went away, or the camera was unplugged
        finally:
            self.camera.connections.discard(self.connection)
