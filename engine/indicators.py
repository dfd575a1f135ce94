"""Incremental technical indicators: one value in, O(1) work, the current value out.

Inputs are ``int`` or ``float`` in price units (paise for NSE; indicators do not care about the
scale); outputs are ``float`` in the same units (RSI, +DI, -DI and ADX are 0-100), or ``None``
until the indicator has seen enough values (``ready``). Every class has ``update(...)``, a
``value`` property and ``ready``, and a ``compute_series`` class method that runs ``update`` over
whole lists (for charts and tests). Indicators are display aids and signals, never money: the
exact-money rules of :mod:`engine.money` do not apply to their floats.

Definitions and the choices made where published definitions differ:

* **SMA(n)**: mean of the last n values. Integer inputs are summed exactly; float inputs use a
  running sum that is recomputed exactly (``math.fsum``) every n updates, so rounding never drifts.
* **EMA(n)**: ``alpha = 2 / (n + 1)``, seeded with the SMA of the first n values (StockCharts,
  TA-Lib); ``None`` before the n-th value.
* **RSI(n)** (Wilder): the first average gain/loss is the simple mean of the first n changes
  (ready at the (n+1)-th price); then ``avg = (avg * (n - 1) + current) / n``.
  ``RSI = 100 * avg_gain / (avg_gain + avg_loss)`` (= ``100 - 100 / (1 + RS)``); 100 when there are
  only gains, 0 with only losses, and 50 when the window has no movement at all.
* **MACD(12, 26, 9)**: line = EMA(fast) - EMA(slow), each EMA seeded on its own first values
  (StockCharts; TA-Lib instead delays the fast EMA's seed to line up with the slow one); signal =
  EMA(signal) of the line; histogram = line - signal. Ready when the signal is (the 34th value by
  default); :attr:`MACD.line` is available from the 26th.
* **Bollinger Bands(20, 2)**: middle = SMA(n); upper/lower = middle +/- k * sigma, where sigma is
  the **population** standard deviation of the same n values (divide by n, as Bollinger specifies
  and StockCharts computes), not the sample one (n - 1).
* **ATR(n)** (Wilder, StockCharts): true range = max(high - low, |high - prev close|,
  |low - prev close|), and high - low for the first bar; the first ATR is the mean of the first n
  true ranges (ready at the n-th bar), then ``atr = (atr * (n - 1) + tr) / n``. (TA-Lib skips the
  first bar and is ready one bar later.)
* **ADX(n)** (Wilder's worksheet, as TA-Lib computes it): +DM = up move when it exceeds the down
  move and is positive, else 0 (and symmetrically -DM); TR as for ATR. The smoothed sums start as
  the plain sums of the first n - 1 values and then follow ``s = s - s / n + current``, so +DI and
  -DI (``100 * sDM / sTR``) are ready at bar index n (the (n+1)-th bar); DX = 100 * |+DI - -DI| /
  (+DI + -DI); ADX is the mean of the first n DX values (ready at the 2n-th bar) and then
  ``adx = (adx * (n - 1) + dx) / n``.
* **OBV**: starts at 0 on the first bar, then adds the volume when the close rises, subtracts it
  when it falls, and keeps it when unchanged.
* **Session VWAP**: sum(price * volume) / sum(volume) since the start of the IST calendar day of
  the tick's timestamp (IST = UTC+05:30, integer arithmetic on ns); it resets when a tick of a
  later IST day arrives. A tick of an earlier day than the current session is ignored. ``None``
  until some volume has traded.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

Number = int | float

NS_PER_S = 1_000_000_000
IST_OFFSET_S = 19_800
SECONDS_PER_DAY = 86_400


def _check_period(period: int, name: str = "period", minimum: int = 1) -> int:
    if isinstance(period, bool) or not isinstance(period, int):
        raise TypeError(f"{name} must be an int, got {type(period).__name__}")
    if period < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {period}")
    return period


def _check_value(x: Number, name: str = "value") -> None:
    if type(x) is not int and not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}")


# ---------------------------------------------------------------------------------------------
# A rolling window with exact (int) or periodically refreshed (float) sums


class _RollingWindow:
    """The last n values with the sum and sum of squares of their offsets from a shift ``k``.

    Offsets from a recent value keep the float sum of squares from cancelling catastrophically;
    with only ints every sum is exact.
    """

    __slots__ = ("_buf", "_exact", "_k", "_n", "_s1", "_s2", "_since")

    def __init__(self, n: int) -> None:
        self._n = n
        self._buf: deque[Number] = deque(maxlen=n)
        self._k: Number = 0
        self._s1: Number = 0
        self._s2: Number = 0
        self._exact = True
        self._since = 0

    def push(self, x: Number) -> None:
        buf = self._buf
        if not buf:
            self._k = x
        if type(x) is not int:
            self._exact = False
        k = self._k
        if len(buf) == self._n:
            old = buf[0] - k
            self._s1 -= old
            self._s2 -= old * old
        d = x - k
        buf.append(x)
        self._s1 += d
        self._s2 += d * d
        if not self._exact:
            self._since += 1
            if self._since >= self._n:
                self._refresh()

    def _refresh(self) -> None:
        buf = self._buf
        self._since = 0
        if all(type(v) is int for v in buf):
            # Floats have left the window: sums can be exact again.
            self._exact = True
            k_int = buf[-1]
            self._k = k_int
            self._s1 = sum(v - k_int for v in buf)
            self._s2 = sum((v - k_int) * (v - k_int) for v in buf)
            return
        k = buf[-1]
        self._k = k
        self._s1 = math.fsum(v - k for v in buf)
        self._s2 = math.fsum((v - k) * (v - k) for v in buf)

    @property
    def full(self) -> bool:
        return len(self._buf) == self._n

    def mean(self) -> float:
        n = self._n
        if self._exact:
            # k * n + s1 is an exact int: one correctly rounded division.
            return (self._k * n + self._s1) / n
        return self._k + self._s1 / n

    def variance(self) -> float:
        """Population variance of the window."""
        n = self._n
        s1 = self._s1
        if self._exact:
            return (n * self._s2 - s1 * s1) / (n * n)
        var = self._s2 / n - (s1 / n) ** 2
        return var if var > 0.0 else 0.0


# ---------------------------------------------------------------------------------------------
# Moving averages


class SMA:
    """Simple moving average of the last ``period`` values."""

    __slots__ = ("_value", "_window", "period")

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self._window = _RollingWindow(period)
        self._value: float | None = None

    def update(self, x: Number) -> float | None:
        """Add a value; return the average once ``period`` values have been seen."""
        _check_value(x)
        w = self._window
        w.push(x)
        if w.full:
            self._value = w.mean()
        return self._value

    @property
    def value(self) -> float | None:
        """Current average, or None before ``period`` values."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once a value is available."""
        return self._value is not None

    @classmethod
    def compute_series(cls, values: Sequence[Number], period: int) -> list[float | None]:
        """``update`` over ``values``: one output per input."""
        ind = cls(period)
        return [ind.update(v) for v in values]


class EMA:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the first SMA."""

    __slots__ = ("_alpha", "_count", "_seed_sum", "_value", "period")

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self._alpha = 2.0 / (period + 1)
        self._count = 0
        self._seed_sum: Number = 0
        self._value: float | None = None

    def update(self, x: Number) -> float | None:
        """Add a value; return the EMA from the ``period``-th value on."""
        _check_value(x)
        value = self._value
        if value is not None:
            value += self._alpha * (x - value)
            self._value = value
            return value
        self._count += 1
        self._seed_sum += x
        if self._count == self.period:
            self._value = self._seed_sum / self.period
        return self._value

    @property
    def value(self) -> float | None:
        """Current EMA, or None during the seed."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once a value is available."""
        return self._value is not None

    @classmethod
    def compute_series(cls, values: Sequence[Number], period: int) -> list[float | None]:
        """``update`` over ``values``: one output per input."""
        ind = cls(period)
        return [ind.update(v) for v in values]


# ---------------------------------------------------------------------------------------------
# Oscillators


def _rsi(avg_gain: float, avg_loss: float) -> float:
    total = avg_gain + avg_loss
    if total == 0.0:
        return 50.0
    return 100.0 * (avg_gain / total)  # the ratio is <= 1 in floats too


class RSI:
    """Wilder's relative strength index over ``period`` changes (default 14)."""

    __slots__ = ("_avg_gain", "_avg_loss", "_count", "_prev", "_value", "period")

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self._prev: Number | None = None
        self._count = 0
        self._avg_gain: float = 0.0
        self._avg_loss: float = 0.0
        self._value: float | None = None

    def update(self, x: Number) -> float | None:
        """Add a price; return the RSI from the ``period + 1``-th price on."""
        _check_value(x)
        prev = self._prev
        self._prev = x
        if prev is None:
            return None
        change = x - prev
        gain = change if change > 0 else 0
        loss = -change if change < 0 else 0
        n = self.period
        if self._count >= n:
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        else:
            self._count += 1
            # Sums while seeding (exact for ints), turned into means at the n-th change.
            self._avg_gain += gain
            self._avg_loss += loss
            if self._count < n:
                return None
            self._avg_gain /= n
            self._avg_loss /= n
        self._value = _rsi(self._avg_gain, self._avg_loss)
        return self._value

    @property
    def value(self) -> float | None:
        """Current RSI (0-100), or None before ``period + 1`` prices."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once a value is available."""
        return self._value is not None

    @classmethod
    def compute_series(cls, values: Sequence[Number], period: int = 14) -> list[float | None]:
        """``update`` over ``values``: one output per input."""
        ind = cls(period)
        return [ind.update(v) for v in values]


class MACDValue(NamedTuple):
    """MACD line, signal line and histogram (line - signal)."""

    macd: float
    signal: float
    histogram: float


class MACD:
    """Moving average convergence/divergence (defaults 12, 26, 9)."""

    __slots__ = ("_fast", "_line", "_signal", "_slow", "_value")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        _check_period(fast, "fast")
        _check_period(slow, "slow")
        _check_period(signal, "signal")
        if fast >= slow:
            raise ValueError(
                f"the fast period must be shorter than the slow one, got {fast}/{slow}"
            )
        self._fast = EMA(fast)
        self._slow = EMA(slow)
        self._signal = EMA(signal)
        self._line: float | None = None
        self._value: MACDValue | None = None

    def update(self, x: Number) -> MACDValue | None:
        """Add a price; return (line, signal, histogram) once the signal line is seeded."""
        fast = self._fast.update(x)
        slow = self._slow.update(x)
        if fast is None or slow is None:
            return None
        line = fast - slow
        self._line = line
        signal = self._signal.update(line)
        if signal is None:
            return None
        self._value = MACDValue(line, signal, line - signal)
        return self._value

    @property
    def line(self) -> float | None:
        """The MACD line alone (available before the signal is seeded)."""
        return self._line

    @property
    def value(self) -> MACDValue | None:
        """Current (line, signal, histogram), or None while warming up."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once a value is available."""
        return self._value is not None

    @classmethod
    def compute_series(
        cls, values: Sequence[Number], fast: int = 12, slow: int = 26, signal: int = 9
    ) -> list[MACDValue | None]:
        """``update`` over ``values``: one output per input."""
        ind = cls(fast, slow, signal)
        return [ind.update(v) for v in values]


class BollingerValue(NamedTuple):
    """Bollinger middle, upper and lower bands."""

    middle: float
    upper: float
    lower: float


class BollingerBands:
    """Bollinger Bands: SMA(period) +/- k population standard deviations (defaults 20, 2)."""

    __slots__ = ("_value", "_window", "k", "period")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self.period = _check_period(period)
        if not (math.isfinite(k) and k >= 0):
            raise ValueError(f"k must be a finite, non-negative number of deviations, got {k}")
        self.k = k
        self._window = _RollingWindow(period)
        self._value: BollingerValue | None = None

    def update(self, x: Number) -> BollingerValue | None:
        """Add a price; return the bands once ``period`` prices have been seen."""
        _check_value(x)
        w = self._window
        w.push(x)
        if not w.full:
            return None
        mid = w.mean()
        width = self.k * math.sqrt(w.variance())
        self._value = BollingerValue(mid, mid + width, mid - width)
        return self._value

    @property
    def value(self) -> BollingerValue | None:
        """Current bands, or None before ``period`` prices."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once a value is available."""
        return self._value is not None

    @classmethod
    def compute_series(
        cls, values: Sequence[Number], period: int = 20, k: float = 2.0
    ) -> list[BollingerValue | None]:
        """``update`` over ``values``: one output per input."""
        ind = cls(period, k)
        return [ind.update(v) for v in values]


# ---------------------------------------------------------------------------------------------
# Range and trend (bar inputs)


def _check_bar(high: Number, low: Number, close: Number) -> None:
    _check_value(high, "high")
    _check_value(low, "low")
    _check_value(close, "close")
    if high < low:
        raise ValueError(f"a bar's high must be >= its low, got high={high} low={low}")


def _true_range(high: Number, low: Number, prev_close: Number | None) -> Number:
    if prev_close is None:
        return high - low
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


class ATR:
    """Wilder's average true range over ``period`` bars (default 14)."""

    __slots__ = ("_count", "_prev_close", "_sum", "_value", "period")

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self._prev_close: Number | None = None
        self._count = 0
        self._sum: Number = 0
        self._value: float | None = None

    def update(self, high: Number, low: Number, close: Number) -> float | None:
        """Add a bar; return the ATR from the ``period``-th bar on."""
        _check_bar(high, low, close)
        tr = _true_range(high, low, self._prev_close)
        self._prev_close = close
        n = self.period
        value = self._value
        if value is not None:
            value = (value * (n - 1) + tr) / n
        else:
            self._count += 1
            self._sum += tr
            if self._count < n:
                return None
            value = self._sum / n
        self._value = value
        return value

    @property
    def value(self) -> float | None:
        """Current ATR, or None before ``period`` bars."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once a value is available."""
        return self._value is not None

    @classmethod
    def compute_series(
        cls,
        highs: Sequence[Number],
        lows: Sequence[Number],
        closes: Sequence[Number],
        period: int = 14,
    ) -> list[float | None]:
        """``update`` over aligned bar lists: one output per bar."""
        _same_length(highs, lows, closes)
        ind = cls(period)
        return [ind.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]


class ADX:
    """Wilder's average directional index with +DI and -DI over ``period`` bars (default 14)."""

    __slots__ = (
        "_adx",
        "_count",
        "_dx_count",
        "_dx_sum",
        "_minus_di",
        "_plus_di",
        "_prev",
        "_s_mdm",
        "_s_pdm",
        "_s_tr",
        "period",
    )

    def __init__(self, period: int = 14) -> None:
        self.period = _check_period(period)
        self._prev: tuple[Number, Number, Number] | None = None
        self._count = 0
        self._s_tr: float = 0.0
        self._s_pdm: float = 0.0
        self._s_mdm: float = 0.0
        self._plus_di: float | None = None
        self._minus_di: float | None = None
        self._dx_count = 0
        self._dx_sum = 0.0
        self._adx: float | None = None

    def update(self, high: Number, low: Number, close: Number) -> float | None:
        """Add a bar; return the ADX from the ``2 * period``-th bar on (+DI/-DI come earlier)."""
        _check_bar(high, low, close)
        prev = self._prev
        self._prev = (high, low, close)
        if prev is None:
            return None
        prev_high, prev_low, prev_close = prev
        tr = _true_range(high, low, prev_close)
        up = high - prev_high
        down = prev_low - low
        pdm = up if (up > down and up > 0) else 0
        mdm = down if (down > up and down > 0) else 0
        n = self.period
        self._count += 1
        if self._count < n:
            self._s_tr += tr
            self._s_pdm += pdm
            self._s_mdm += mdm
            return None
        self._s_tr = self._s_tr - self._s_tr / n + tr
        self._s_pdm = self._s_pdm - self._s_pdm / n + pdm
        self._s_mdm = self._s_mdm - self._s_mdm / n + mdm
        s_tr = self._s_tr
        s_pdm = self._s_pdm
        s_mdm = self._s_mdm
        # +DM and -DM never exceed the true range; min() only guards against the last ulp.
        self._plus_di = min(100.0, 100.0 * s_pdm / s_tr) if s_tr > 0 else 0.0
        self._minus_di = min(100.0, 100.0 * s_mdm / s_tr) if s_tr > 0 else 0.0
        # DX = 100 |+DI - -DI| / (+DI + -DI); the common factor 100 / sTR cancels.
        dm_sum = s_pdm + s_mdm
        dx = 100.0 * (abs(s_pdm - s_mdm) / dm_sum) if dm_sum > 0 else 0.0
        adx = self._adx
        if adx is not None:
            adx = (adx * (n - 1) + dx) / n
        else:
            self._dx_count += 1
            self._dx_sum += dx
            if self._dx_count < n:
                return None
            adx = self._dx_sum / n
        self._adx = adx
        return adx

    @property
    def value(self) -> float | None:
        """Current ADX (0-100), or None while warming up."""
        return self._adx

    @property
    def plus_di(self) -> float | None:
        """Current +DI (0-100), or None before ``period + 1`` bars."""
        return self._plus_di

    @property
    def minus_di(self) -> float | None:
        """Current -DI (0-100), or None before ``period + 1`` bars."""
        return self._minus_di

    @property
    def ready(self) -> bool:
        """True once the ADX is available."""
        return self._adx is not None

    @classmethod
    def compute_series(
        cls,
        highs: Sequence[Number],
        lows: Sequence[Number],
        closes: Sequence[Number],
        period: int = 14,
    ) -> list[float | None]:
        """ADX after each bar of aligned bar lists."""
        _same_length(highs, lows, closes)
        ind = cls(period)
        return [ind.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]

    @classmethod
    def compute_di_series(
        cls,
        highs: Sequence[Number],
        lows: Sequence[Number],
        closes: Sequence[Number],
        period: int = 14,
    ) -> list[tuple[float, float] | None]:
        """(+DI, -DI) after each bar of aligned bar lists (None while warming up)."""
        _same_length(highs, lows, closes)
        ind = cls(period)
        out: list[tuple[float, float] | None] = []
        for h, lo, c in zip(highs, lows, closes, strict=True):
            ind.update(h, lo, c)
            p, m = ind._plus_di, ind._minus_di
            out.append(None if p is None or m is None else (p, m))
        return out


def _same_length(*series: Sequence[Number]) -> None:
    lengths = {len(s) for s in series}
    if len(lengths) > 1:
        raise ValueError(
            f"highs, lows and closes must have the same length, got {[len(s) for s in series]}"
        )


# ---------------------------------------------------------------------------------------------
# Volume


class OBV:
    """On-balance volume: cumulative volume signed by the direction of the close."""

    __slots__ = ("_obv", "_prev_close", "_started")

    def __init__(self) -> None:
        self._prev_close: Number = 0
        self._obv = 0
        self._started = False

    def update(self, close: Number, volume: int) -> float:
        """Add a bar's close and volume; return the OBV (0 after the first bar)."""
        _check_value(close, "close")
        if volume < 0:
            raise ValueError(f"volume must be >= 0, got {volume}")
        if not self._started:
            self._started = True
        elif close > self._prev_close:
            self._obv += volume
        elif close < self._prev_close:
            self._obv -= volume
        self._prev_close = close
        return float(self._obv)

    @property
    def value(self) -> float | None:
        """Current OBV, or None before the first bar."""
        return float(self._obv) if self._started else None

    @property
    def ready(self) -> bool:
        """True once a bar has been seen."""
        return self._started

    @classmethod
    def compute_series(cls, closes: Sequence[Number], volumes: Sequence[int]) -> list[float]:
        """``update`` over aligned closes and volumes."""
        if len(closes) != len(volumes):
            raise ValueError(
                f"closes and volumes must have the same length, got {len(closes)}/{len(volumes)}"
            )
        ind = cls()
        return [ind.update(c, v) for c, v in zip(closes, volumes, strict=True)]


class SessionVWAP:
    """Volume-weighted average price of the current IST session day."""

    __slots__ = ("_day", "_pv", "_value", "_vol")

    def __init__(self) -> None:
        self._day = -1
        self._pv: Number = 0
        self._vol = 0
        self._value: float | None = None

    def update(self, price: Number, volume: int, ts_ns: int) -> float | None:
        """Add a trade (or a bar's typical price and volume) at ``ts_ns``; return the VWAP."""
        if volume < 0:
            raise ValueError(f"volume must be >= 0, got {volume}")
        _check_value(price, "price")
        day = (ts_ns // NS_PER_S + IST_OFFSET_S) // SECONDS_PER_DAY
        if day != self._day:
            if day < self._day:
                return self._value
            self._day = day
            self._pv = 0
            self._vol = 0
            self._value = None
        if volume:
            self._pv += price * volume
            self._vol += volume
            self._value = self._pv / self._vol
        return self._value

    @property
    def value(self) -> float | None:
        """Current session VWAP, or None before any volume today."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once a value is available."""
        return self._value is not None

    @property
    def volume(self) -> int:
        """Volume traded in the current session."""
        return self._vol

    @classmethod
    def compute_series(
        cls, prices: Sequence[Number], volumes: Sequence[int], timestamps: Sequence[int]
    ) -> list[float | None]:
        """``update`` over aligned prices, volumes and timestamps."""
        if not len(prices) == len(volumes) == len(timestamps):
            raise ValueError(
                "prices, volumes and timestamps must have the same length, got "
                f"{len(prices)}/{len(volumes)}/{len(timestamps)}"
            )
        ind = cls()
        return [ind.update(p, v, t) for p, v, t in zip(prices, volumes, timestamps, strict=True)]
