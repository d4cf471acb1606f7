"""Progress bars for runs started from Python: tqdm (terminal or notebook) when installed,
otherwise a plain one-line bar on stderr with elapsed time, ETA and rate."""

from __future__ import annotations

import json
import sys
import time


def _sig3(x: float) -> str:
    """A number rounded to 3 significant digits, without a useless '.0'."""
    v = float(f"{x:.3g}")
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:g}"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _PlainBar:
    def __init__(self, total: int, desc: str, stream=None) -> None:
        self.total, self.desc, self.n = total, desc, 0
        self.start = time.monotonic()
        self.stream = stream or sys.stderr
        self.postfix = ""

    def update_to(self, n: int, postfix: str) -> None:
        self.n, self.postfix = n, postfix
        self._draw("\r")

    def _draw(self, lead: str) -> None:
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * self.n / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(
            f"{lead}{self.desc} [{bar}] {self.n}/{self.total} "
            f"{_clock(elapsed)}<{_clock(eta)} {_sig3(rate)} samples/s {self.postfix}"
        )
        self.stream.flush()

    def close(self, line: str) -> None:
        self.stream.write("\r" + line + " " * 20 + "\n")
        self.stream.flush()


class _Reporter:
    """Receives the library's events ``(name, json)`` and draws one bar per epoch."""

    def __init__(self) -> None:
        try:
            from tqdm.auto import tqdm  # noqa: F401

            self._tqdm = tqdm
        except ImportError:
            self._tqdm = None
        self.bar = None
        self.started = time.monotonic()

    def __call__(self, event: str, payload: str) -> None:
        data = json.loads(payload) if payload else {}
        if event == "epoch_started":
            desc = f"epoch {data['epoch']}/{data['epochs']}"
            self.started = time.monotonic()
            if self._tqdm is not None:
                self.bar = self._tqdm(
                    total=data["samples"],
                    desc=desc,
                    unit=" samples",
                    bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                    "[{elapsed}<{remaining}{postfix}]",
                    leave=True,
                )
            else:
                self.bar = _PlainBar(data["samples"], desc)
        elif event == "batch_done" and self.bar is not None:
            postfix = f"loss {data['loss']:.4f} acc {100 * data['accuracy']:.2f}%"
            if self._tqdm is not None:
                elapsed = time.monotonic() - self.started
                rate = data["done"] / elapsed if elapsed > 0 else 0.0
                postfix = f", {_sig3(rate)} samples/s, {postfix}"
                self.bar.update(data["done"] - self.bar.n)
                self.bar.set_postfix_str(postfix, refresh=False)
            else:
                self.bar.update_to(data["done"], postfix)
        elif event == "epoch_done" and self.bar is not None:
            line = (
                f"epoch {data['epoch']} ({data.get('engine', '')}): test accuracy "
                f"{100 * data['test_accuracy']:.2f}%, train loss {data['train_loss']:.4f}"
            )
            if self._tqdm is not None:
                self.bar.set_postfix_str(", " + line, refresh=True)
                self.bar.close()
            else:
                self.bar.close(line)
            self.bar = None


def progress_callback() -> _Reporter:
    """A fresh progress reporter for one run or comparison."""
    return _Reporter()
