"""Evaluation on the real lateral-movement captures of ../shared/data/otrf-lateral-movement, through
`sensor replay` with the shipped models (decode, flows, context, tract, alert policy: the sensor as it
runs).

The captures are labelled per capture (a technique), not per flow; the flows are classed by rule, from the
datasets' metadata (see ../shared/data/README.md):
- movement: TCP between the two workstations (WORKSTATION5 172.18.39.5, WORKSTATION6 172.18.39.6) to an
  admin or RPC port: endpoint mapper 135, NetBIOS 139, SMB 445, WinRM 5985/5986, or a dynamic RPC port
  (≥ 49152) — the remote service, WMI, scheduled task, PowerShell remoting and file copy themselves;
- domain chatter: every other flow inside the lab (DNS, Kerberos, LDAP, SMB and RPC to the domain
  controller and servers, NTP, NetBIOS broadcasts);
- c2: the implant's HTTP to the C2 server 10.10.10.5 (attack traffic, but not lateral movement);
- internet: the rest (the cloud VM's platform agent, the operator's RDP session into the lab).
Targets: a `lateral_movement` alert on the movement flows of every capture, no alert on domain chatter.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pandas as pd

from .sensor import Sensor

WORKSTATIONS = {"172.18.39.5", "172.18.39.6"}
MOVEMENT_PORTS = {135, 139, 445, 5985, 5986}
C2 = "10.10.10.5"
LAB = ipaddress.ip_network("172.18.0.0/16")


def flow_class(src: str, dst: str, dst_port: int, transport: str) -> str:
    if C2 in (src, dst):
        return "c2"
    if (transport == "tcp" and src in WORKSTATIONS and dst in WORKSTATIONS and src != dst
            and (dst_port in MOVEMENT_PORTS or dst_port >= 49152)):
        return "movement"
    in_lab = lambda a: ipaddress.ip_address(a) in LAB
    if in_lab(src) and in_lab(dst):
        return "domain chatter"
    return "internet"


def captures(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".cap", ".pcap", ".pcapng"))


def evaluate(sensor: Sensor, directory: Path, models: list[Path], config: Path | None = None) -> pd.DataFrame:
    """One row per flow of every capture: its class, the labels it was alerted with and its top scores."""
    rows = []
    for pcap in captures(directory):
        events, summary = sensor.replay_all(pcap, models, config)
        truncated = "cover the readable part of the capture only" in summary
        flows: dict[str, dict] = {}
        alerted: dict[str, set[str]] = {}
        for e in events:
            fid = e["flow"]["id"]
            f = flows.setdefault(fid, {
                "capture": pcap.name, "truncated": truncated, "flow_id": fid,
                "src": f"{e['source']['ip']}:{e['source'].get('port', '')}",
                "dst": f"{e['destination']['ip']}:{e['destination'].get('port', '')}",
                "transport": e["network"]["transport"],
                "class": flow_class(e["source"]["ip"], e["destination"]["ip"], int(e["destination"].get("port") or 0),
                                    e["network"]["transport"]),
            })
            if e["event"]["kind"] == "alert":
                ids = (e.get("aggregation") or {}).get("flow_ids") or [fid]
                for i in ids:
                    alerted.setdefault(i, set()).add(e["ml"]["label"])
            for label, score in (e["ml"].get("scores") or {e["ml"]["label"]: e["ml"]["score"]}).items():
                if label != "benign":
                    f[label] = max(f.get(label, float("-inf")), float(score))
        for fid, f in flows.items():
            f["alerts"] = ",".join(sorted(alerted.get(fid, ())))
            rows.append(f)
    return pd.DataFrame(rows)


def summary(flows: pd.DataFrame) -> pd.DataFrame:
    """Per capture: movement flows and how many drew a lateral-movement alert, alerts on the other classes."""
    has = lambda s, lab: s.str.split(",").apply(lambda x: lab in x)
    out = []
    for cap, g in flows.groupby("capture"):
        mv = g[g["class"] == "movement"]
        chatter = g[g["class"] == "domain chatter"]
        other = g[g["class"].isin(["c2", "internet"])]
        out.append({
            "capture": cap + (" (truncated: its readable part)" if g.truncated.any() else ""),
            "movement flows": len(mv),
            "movement with lateral_movement alert": int(has(mv.alerts, "lateral_movement").sum()),
            "domain chatter flows": len(chatter),
            "chatter alerted by the classifier": int((has(chatter.alerts, "lateral_movement")
                                                      | has(chatter.alerts, "exfiltration")).sum()),
            "chatter alerted by the anomaly model": int(has(chatter.alerts, "anomaly").sum()),
            "c2/internet flows": len(other),
            "c2/internet alerted": int((other.alerts != "").sum()),
        })
    return pd.DataFrame(out).set_index("capture")
