# The espefuse session worker (docs/provisioning.md §2.4): one long-lived Python process holding one
# espefuse connection -- a serial port, or a virtual chip's eFuse file -- for one device, so that
# read -> burn -> re-read costs one interpreter start and one connection instead of one of each per
# step. It encodes nothing itself: every read and burn is espefuse's own code, reached through the
# public Python API of esptool 5.x ("Embedding into Custom Scripts": espefuse.init_commands, the
# commands' summary() and burn_key(), the port closed by the commands' context manager).
#
# Protocol, one JSON object per line. The first line out is {"ready": true, "esptool": VERSION}, or
# {"ready": false, "error": WHY} when espefuse's API is not importable (the caller then runs the
# espefuse command instead). Then one answer per request, in order:
#   {"id", "op": "open", "chip", "virt": IMAGE | "port": PATH, "baud"?}  connect and read the eFuses
#   {"id", "op": "summary"}                                  -> {"json": TEXT} (summary --format json)
#   {"id", "op": "burn-key", "block", "key": HEX, "purpose", "confirm"}  -> {"aborted": bool}
#   {"id", "op": "close"}                                    close the port and exit
# Answers are {"id", "ok": true, ...} or {"id", "ok": false, "error": {"type", "message", "output"}},
# where output is what espefuse printed during the request (its log; burn-key prints keys as "??").
#
# The key comes down the pipe, never on a command line, in the environment or in a file, and is
# never echoed. The process's own stdin and stdout are taken for the protocol: espefuse sees
# /dev/null as stdin (its BURN prompt, when confirmation is asked for, reads end-of-file) and its
# output is captured per request. End of input (the caller closed the pipe, or died) ends the worker
# once the request in hand is done: a burn is never cut short. SIGINT is ignored for the same reason.
import contextlib
import io
import json
import os
import signal
import sys

signal.signal(signal.SIGINT, signal.SIG_IGN)

# The protocol gets private copies of fds 0 and 1; the fds themselves become /dev/null and stderr,
# so nothing espefuse or Python prints or reads can touch the protocol.
_proto_in = io.open(os.dup(0), "r", encoding="utf-8", newline="\n")
_proto_out = io.open(os.dup(1), "w", encoding="utf-8", newline="\n")
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
os.dup2(2, 1)
sys.stdin = io.open(os.devnull, "r", encoding="utf-8")
sys.stdout = sys.stderr


def send(obj):
    """One answer line; False when the caller is gone (its end of the pipe is closed)."""
    try:
        _proto_out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        _proto_out.flush()
        return True
    except (BrokenPipeError, OSError, ValueError):
        return False


try:
    import esptool
    from espefuse import init_commands

    _major = int(str(esptool.__version__).split(".")[0])
    if _major < 5:
        raise ImportError(f"esptool {esptool.__version__} has no espefuse scripting API (5.x needed)")
except Exception as e:  # noqa: BLE001 - any import failure means "use the espefuse command"
    send({"ready": False, "error": f"{type(e).__name__}: {e}"})
    sys.exit(3)


class _Text(io.StringIO):
    """A named in-memory file that keeps its text when summary() closes it."""

    name = "<memory>"
    text = ""

    def close(self):
        if not self.closed:
            self.text = self.getvalue()
        super().close()


class Session:
    def __init__(self):
        self.stack = contextlib.ExitStack()
        self.commands = None
        # The eFuse values in hand were read by the last operation (connect, re-read, a burn's own
        # read-back); a summary that follows anything else reads the chip again first.
        self.fresh = False

    def open(self, req):
        if self.commands is not None:
            raise esptool.FatalError("a connection is already open")
        chip = req["chip"]
        if req.get("virt"):
            commands = init_commands(chip=chip, virt=True, virt_efuse_file=req["virt"], do_not_confirm=True)
        else:
            commands = init_commands(port=req["port"], baud=int(req.get("baud") or esptool.ESPLoader.ESP_ROM_BAUD),
                                     chip=chip, do_not_confirm=True)
        self.commands = self.stack.enter_context(commands)
        self.fresh = True
        return {}

    def connected(self):
        if self.commands is None:
            raise esptool.FatalError("no connection is open")
        return self.commands

    def reread(self):
        """Reads every eFuse again over the same connection (the esp object is passed back in, so
        init_commands neither reconnects nor closes the port), dropping anything queued for a burn."""
        self.commands = init_commands(esp=self.connected().esp, do_not_confirm=True)
        self.fresh = True

    def summary(self, req):
        self.connected()
        if not self.fresh:
            self.reread()
        self.fresh = False
        out = _Text()
        self.commands.summary([], "json", out)
        return {"json": out.text if out.closed else out.getvalue()}

    def burn_key(self, req):
        commands = self.connected()
        key = bytearray.fromhex(req["key"])
        commands.efuses.do_not_confirm = req.get("confirm") is False
        self.fresh = False
        try:
            commands.burn_key([req["block"]], [io.BytesIO(bytes(key))], [req["purpose"]])
        except SystemExit as e:
            # espefuse's answer to a BURN prompt not answered "BURN": "Aborting." and exit status 0.
            # Anything it queued is dropped by reading the chip again; the caller re-reads to see.
            self.reread()
            if e.code in (0, None):
                return {"aborted": True}
            raise esptool.FatalError(f"espefuse exited with status {e.code}")
        except BaseException:
            with contextlib.suppress(Exception):
                self.reread()
            raise
        finally:
            key[:] = bytes(len(key))
        # burn_all() read the eFuses back after burning ("Reading updated eFuses..."): fresh.
        self.fresh = True
        return {"aborted": False}

    def close(self, req=None):
        commands, self.commands = self.commands, None
        if commands is not None:
            self.stack.close()
        return {}


def handle(session, line):
    """The answer to one request line, and whether it was the last."""
    ops = {"open": session.open, "summary": session.summary, "burn-key": session.burn_key, "close": session.close}
    rid = None
    captured = io.StringIO()
    try:
        req = json.loads(line)
        rid = req.get("id")
        op = ops.get(req.get("op"))
        if op is None:
            raise ValueError(f"unknown op {req.get('op')!r}")
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            result = op(req)
        return {"id": rid, "ok": True, **result}, op == session.close
    except BaseException as e:  # noqa: BLE001 - every failure is an answer, never a dead worker
        if isinstance(e, esptool.FatalError):
            message = str(e)
        else:
            message = f"{type(e).__name__}: {e}"
        error = {"type": type(e).__name__, "message": message, "output": captured.getvalue()[-4000:]}
        return {"id": rid, "ok": False, "error": error}, False


def main():
    session = Session()
    if not send({"ready": True, "esptool": esptool.__version__, "pid": os.getpid()}):
        return
    try:
        for line in _proto_in:
            if not line.strip():
                continue
            answer, last = handle(session, line)
            if not send(answer) or last:
                break
    finally:
        session.close()


if __name__ == "__main__":
    try:
        main()
    finally:
        with contextlib.suppress(Exception):
            _proto_out.close()
            sys.stderr.flush()
    # The connection is closed and every file espefuse wrote is closed: skip the interpreter's
    # teardown of some hundred modules, which would keep a port's next user waiting for nothing.
    os._exit(0)
