"""The daemon's camera decodes the code types [camera] symbologies names."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.config import parse_config
from agent.daemon.devices import Devices, Scan
from hardware_sim.camera import write_video
from tests.agent.config.test_config import GOOD
from tests.drivers.camera.barcodes import CARD, code128_frame


def test_a_member_card_barcode_reaches_the_daemon_when_code128_is_configured(tmp_path: Path) -> None:
    video = tmp_path / "card.avi"
    write_video(video, [code128_frame(seed=i) for i in range(5)])
    text = GOOD + f'\n[camera]\nsource = "{video}"\nsymbologies = ["qrcode", "code128"]\n'
    config = parse_config(text, source="agent.toml", base_dir=tmp_path)

    async def first_scan() -> Scan:
        seen: asyncio.Queue[Scan] = asyncio.Queue()
        devices = Devices(config, on_scan=seen.put_nowait, on_device=lambda _: None, on_print=lambda _: None)
        await devices.start()
        try:
            return await asyncio.wait_for(seen.get(), 20)  # bounded: fails only if it never comes
        finally:
            await devices.stop()

    assert asyncio.run(first_scan()).code == CARD
