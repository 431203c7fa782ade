"""The sensor binary as the training side uses it: schema, simulate, extract, replay, sign.

Features always come from `sensor extract` (the serving code); evaluation of real captures goes through
`sensor replay`, so a model is measured as it will run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

LABELS = ["benign", "exfiltration", "lateral_movement"]
ALERT_LABELS = ["exfiltration", "lateral_movement"]


@dataclass(frozen=True)
class Schema:
    id: str
    names: list[str]
    hash: str


def schema_hash(schema_id: str, names: list[str]) -> str:
    """The sensor's schema hash: SHA-256 of the id and every name, each followed by a newline."""
    h = hashlib.sha256()
    for part in [schema_id, *names]:
        h.update(part.encode() + b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Simulation:
    """Arguments of one `sensor simulate` run."""

    tag: str
    seed: int
    variants: str  # "train" or "eval"
    hosts: int
    duration: str
    volume_scale: float
    start: str | None = None  # RFC 3339 UTC; None: the simulator's default (a Monday 08:00)
    scenario: str = "enterprise"
    attacks: str | None = None  # NAME=COUNT,...; None: the scenario's mix
    host_vantage: float = 0.0  # share of TCP connections captured on one of their hosts (`--host-vantage`)


class Sensor:
    def __init__(self, binary: str | Path):
        self.binary = str(Path(binary).resolve())

    def _run(self, *args: str, capture: bool = False) -> str:
        done = subprocess.run([self.binary, *args], check=True, capture_output=capture, text=True)
        return done.stdout if capture else ""

    def schema(self, schema_id: str | None = None) -> Schema:
        """The build's feature schema, or an older one it still serves (each is a prefix of the current
        one); the hash algorithm is checked against the hash the binary prints."""
        lines = [l.strip() for l in self._run("extract", "--schema", capture=True).splitlines() if l.strip()]
        head = lines[0].split()  # "# schema flow-v5 sha256:<hex> (166 features)"
        if head[:2] != ["#", "schema"] or not head[3].startswith("sha256:"):
            raise RuntimeError(f"unexpected schema line from {self.binary}: {lines[0]}")
        current_id, current_hash = head[2], head[3].removeprefix("sha256:")
        names = [l for l in lines[1:] if not l.startswith("#")]
        if len(names) != int(head[4].lstrip("(")):
            raise RuntimeError(f"schema line says {head[4]} features, {len(names)} listed")
        if schema_hash(current_id, names) != current_hash:
            raise RuntimeError("the schema hash printed by the sensor is not SHA-256(id, names): algorithm changed?")
        if schema_id is None or schema_id == current_id:
            return Schema(current_id, names, current_hash)
        prefixes = {"flow-v1": 126}
        if schema_id not in prefixes:
            raise RuntimeError(f"schema {schema_id} is not one this script knows as a prefix of {current_id}")
        sub = names[: prefixes[schema_id]]
        return Schema(schema_id, sub, schema_hash(schema_id, sub))

    def simulate(self, sim: Simulation, pcap: Path, truth: Path) -> None:
        args = ["simulate", "--scenario", sim.scenario, "--hosts", str(sim.hosts), "--duration", sim.duration,
                "--volume-scale", str(sim.volume_scale), "--variants", sim.variants, "--seed", str(sim.seed),
                "--out", str(pcap), "--truth", str(truth)]
        if sim.start:
            args += ["--start", sim.start]
        if sim.attacks:
            args += ["--attacks", sim.attacks]
        if sim.host_vantage:
            args += ["--host-vantage", str(sim.host_vantage)]
        self._run(*args)

    def extract(self, pcap: Path, out: Path, truth: Path | None = None, config: Path | None = None) -> pd.DataFrame:
        args = ["extract", "--pcap", str(pcap), "--out", str(out), "--quiet"]
        if truth is not None:
            args += ["--truth", str(truth)]
        if config is not None:
            args += ["--config", str(config)]
        self._run(*args)
        return pd.read_parquet(out)

    def simulate_and_extract(self, sim: Simulation, work: Path, config: Path | None = None) -> pd.DataFrame:
        """A labelled feature table of one simulation, extracted with the sensor configuration `config`;
        the capture is deleted once read (it is large)."""
        pcap, truth, table = work / f"{sim.tag}.pcap", work / f"{sim.tag}.truth.parquet", work / f"{sim.tag}.parquet"
        self.simulate(sim, pcap, truth)
        try:
            df = self.extract(pcap, table, truth, config)
        finally:
            pcap.unlink(missing_ok=True)
        unknown = sorted(set(df["label"]) - set(LABELS))
        if unknown:
            raise RuntimeError(f"{sim.tag}: labels outside {LABELS}: {unknown}")
        return df.assign(capture=sim.tag).reset_index(drop=True)

    def replay_all(self, pcap: Path, models: list[Path], config: Path | None = None) -> tuple[list[dict], str]:
        """`sensor replay --emit all` with the given models: every scored record as an event, and the
        summary the sensor printed."""
        args = ["replay", "--pcap", str(pcap), "--emit", "all", "--out", "-"]
        for m in models:
            args += ["--model", str(m)]
        if config is not None:
            args += ["--config", str(config)]
        done = subprocess.run([self.binary, *args], capture_output=True, text=True)
        # A truncated capture is reported (non-zero exit) after its readable part was scored: keep those
        # events, the summary says so.
        if done.returncode != 0 and "cover the readable part of the capture only" not in done.stderr:
            raise RuntimeError(f"sensor replay {pcap} failed ({done.returncode}): {done.stderr.strip()}")
        return [json.loads(l) for l in done.stdout.splitlines() if l.strip()], done.stderr

    def sign(self, key: Path, files: list[Path]) -> None:
        self._run("model", "sign", "--key", str(key), *map(str, files))

    def check(self, model: Path) -> str:
        return self._run("model", "check", str(model), capture=True)
