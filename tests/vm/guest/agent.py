#!/usr/bin/python3
"""nearpath test-VM guest agent.

One JSON request per TCP connection, one JSON reply, then close. The harness
reaches it through slirp hostfwd (host 127.0.0.1:<port> -> guest :7777).

Requests ("op"):
  ping                                   -> {"ok", "uptime", "hostname"}
  run    argv|sh, timeout, env, input    -> {"rc", "stdout", "stderr", "timed_out"}
  spawn  argv|sh, log, env               -> {"pid"}   (new session, output to log file)
  status pid                             -> {"running", "rc"}
  read   path                            -> {"data": base64}
  write  path, data (base64), mode       -> {"ok"}
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import socket
import socketserver
import subprocess
import threading
from typing import Any

CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
LOCK = threading.Lock()
ENV_BASE = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHONPATH": "/opt/nearpath/src",
    "PYTHONDONTWRITEBYTECODE": "1",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}


def _argv(req: dict[str, Any]) -> list[str]:
    if "argv" in req:
        return [str(a) for a in req["argv"]]
    return ["/bin/bash", "-c", str(req["sh"])]


def _env(req: dict[str, Any]) -> dict[str, str]:
    env = dict(ENV_BASE)
    env.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
    return env


def op_run(req: dict[str, Any]) -> dict[str, Any]:
    timeout = float(req.get("timeout", 60))
    data = req.get("input")
    proc = subprocess.Popen(
        _argv(req),
        stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(req),
        cwd=req.get("cwd") or "/",
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(data.encode() if data is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = b"", b"(process stuck after SIGKILL, probably in D state)"
    return {
        "rc": proc.returncode if proc.returncode is not None else -9,
        "stdout": out.decode("utf-8", "replace"),
        "stderr": err.decode("utf-8", "replace"),
        "timed_out": timed_out,
    }


def op_spawn(req: dict[str, Any]) -> dict[str, Any]:
    log = str(req.get("log") or "/dev/null")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            _argv(req),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(req),
            cwd=req.get("cwd") or "/",
            start_new_session=True,
        )
    with LOCK:
        CHILDREN[proc.pid] = proc
    return {"pid": proc.pid}


def op_status(req: dict[str, Any]) -> dict[str, Any]:
    with LOCK:
        proc = CHILDREN.get(int(req["pid"]))
    if proc is None:
        return {"error": "unknown pid"}
    rc = proc.poll()
    return {"running": rc is None, "rc": rc}


def op_read(req: dict[str, Any]) -> dict[str, Any]:
    with open(str(req["path"]), "rb") as f:
        return {"data": base64.b64encode(f.read()).decode()}


def op_write(req: dict[str, Any]) -> dict[str, Any]:
    path = str(req["path"])
    os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
    with open(path, "wb") as f:
        f.write(base64.b64decode(req["data"]))
    os.chmod(path, int(req.get("mode", 0o644)))
    return {"ok": True}


def op_ping(_req: dict[str, Any]) -> dict[str, Any]:
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return {"ok": True, "uptime": uptime, "hostname": socket.gethostname()}


OPS = {
    "ping": op_ping,
    "run": op_run,
    "spawn": op_spawn,
    "status": op_status,
    "read": op_read,
    "write": op_write,
}


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        if not line:
            return
        try:
            req = json.loads(line)
            reply = OPS[req["op"]](req)
        except Exception as exc:  # report every failure to the harness
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=7777)
    args = parser.parse_args()
    with Server(("0.0.0.0", args.port), Handler) as server:
        with open("/dev/console", "w") as console:
            console.write(f"NEARPATH-AGENT-READY port={args.port}\n")
        server.serve_forever()


if __name__ == "__main__":
    main()
