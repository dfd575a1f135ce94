"""The instrument index: lookups by token and by (exchange, symbol), and fast ranked search.

Built once from an instrument master (the paper universe or Angel One's ~200,000-row scrip master)
and then read-only; the caller may ``gc.freeze()`` afterwards. Search follows the measurements in
research/perf-baselines.md §3: a sorted-key prefix index answered with ``bisect`` first, and a
pure-Python fuzzy match only when the prefix search finds fewer results than asked for.

How a query is answered (all matching is case-insensitive and ignores spaces and punctuation, so
``sbin``, ``SBIN-EQ`` and ``sbin eq`` meet the same keys):

1. *Exact key*: instruments whose symbol, cash symbol without its series (``SBIN`` for
   ``SBIN-EQ``) or underlying name equals the query.
2. *Prefix*: instruments with any key (symbol, name, or a later word of a multi-word name) that
   starts with the query.
3. *Words* (queries of several words): the first ordinary word is a prefix of the underlying; the
   others must appear in the symbol or name; ``FUT``, ``CE``/``PE``/``OPT``, ``EQ`` and ``INDEX``
   restrict the kind (``nifty fut``, ``banknifty nov fut``).
4. *Fuzzy*, only when the above found fewer than ``limit``: typo-tolerant (optimal-string-alignment
   edit distance against the start of each underlying name, plus in-order subsequences) over the
   distinct underlying names, pre-filtered by shared letter pairs (``relinace``, ``hdfc bnk``).

Within each step results are in a fixed order: cash equity, then indices, then futures, then
options; NSE before BSE; derivatives nearest expiry first; then alphabetical (a stock's ``-EQ``
series before its other series).

The prefix step costs O(log n) plus a bounded merge: keys are grouped into blocks (and blocks of
blocks) that each keep their best-ranked instruments, so a one-letter query over 200,000 rows does
not touch every row.
"""

from __future__ import annotations

import gc
import heapq
import re
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain

from engine.models import Exchange, Instrument, InstrumentType

_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_AFTER_LAST = "~"  # sorts after every normalised key character (0-9, A-Z)

_CATEGORY = {
    InstrumentType.EQUITY: 0,
    InstrumentType.INDEX: 1,
    InstrumentType.FUTIDX: 2,
    InstrumentType.FUTSTK: 2,
    InstrumentType.FUTCOM: 2,
    InstrumentType.FUTCUR: 2,
    InstrumentType.OPTIDX: 3,
    InstrumentType.OPTSTK: 3,
    InstrumentType.OPTFUT: 3,
    InstrumentType.OPTCUR: 3,
}
_CATEGORIES = 4
_EXCHANGE_ORDER = {
    Exchange.NSE: 0,
    Exchange.NFO: 1,
    Exchange.BSE: 2,
    Exchange.BFO: 3,
    Exchange.MCX: 4,
    Exchange.CDS: 5,
    Exchange.NCDEX: 6,
}
_KIND_WORDS: dict[str, frozenset[int]] = {
    **dict.fromkeys(("FUT", "FUTS", "FUTURE", "FUTURES"), frozenset({2})),
    **dict.fromkeys(
        ("OPT", "OPTS", "OPTION", "OPTIONS", "CE", "PE", "CALL", "PUT"), frozenset({3})
    ),
    **dict.fromkeys(("EQ", "EQUITY", "CASH", "STOCK", "SHARE"), frozenset({0})),
    **dict.fromkeys(("INDEX", "IDX", "INDICES"), frozenset({1})),
}
_OPTION_SIDE_WORDS = {"CE": "CE", "CALL": "CE", "PE": "PE", "PUT": "PE"}

_BLOCK = 16
"""Keys per block at the first level; each higher level groups this many blocks."""
_TOP = 64
"""Best-ranked instruments each block keeps; searches with a larger limit take the slow path."""
_WORD_SCAN_BUDGET = 2_000
"""Most candidate lines plus underlyings one words-mode search examines (bounds its time)."""
_FUZZY_CANDIDATES = 48
"""Most names the fuzzy step scores with the edit distance."""


def normalize(text: str) -> str:
    """Search form of a text: upper-case ASCII letters and digits (``SBIN-EQ`` -> ``SBINEQ``)."""
    if text.isascii() and text.isalnum() and text.isupper():
        return text
    return _NON_ALNUM.sub("", text.upper())


def _cash_base(instrument: Instrument) -> str | None:
    """``SBIN`` for ``SBIN-EQ`` (the cash symbol without its series suffix)."""
    symbol = instrument.symbol
    if instrument.instrument_type is InstrumentType.EQUITY and "-" in symbol:
        return symbol.rsplit("-", 1)[0]
    return None


def _rank_key(instrument: Instrument) -> tuple[int, int, int, str, int, str]:
    category = _CATEGORY.get(instrument.instrument_type, 3)
    expiry = instrument.expiry.toordinal() if instrument.expiry is not None else 0
    exchange = _EXCHANGE_ORDER.get(instrument.exchange, 9)
    if category >= 2:
        first = instrument.name
    elif instrument.symbol.endswith("-EQ"):
        first = instrument.symbol[:-3]  # the EQ series before other series of the same stock
    else:
        first = instrument.symbol
    return (category, expiry, exchange, first, instrument.strike or 0, instrument.symbol)


def _osa_prefix_distance(query: str, target: str, limit: int) -> int:
    """Optimal-string-alignment distance from ``query`` to the closest prefix of ``target``.

    Only the first ``len(query) + limit`` characters of ``target`` are considered; the answer is
    capped at ``limit + 1``.
    """
    target = target[: len(query) + limit]
    cols = len(target)
    previous2: list[int] = []
    previous = list(range(cols + 1))
    for i in range(1, len(query) + 1):
        current = [i] + [0] * cols
        qc = query[i - 1]
        row_min = i
        for j in range(1, cols + 1):
            tc = target[j - 1]
            cost = 0 if qc == tc else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and qc == target[j - 2] and query[i - 2] == tc:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            row_min = min(row_min, value)
        if row_min > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(min(previous), limit + 1)


def _is_subsequence(query: str, target: str) -> bool:
    it = iter(target)
    return all(c in it for c in query)


def _fuzzy_limit(length: int) -> int:
    return 1 if length <= 4 else 2 if length <= 8 else 3


class _KeyIndex:
    """Sorted unique keys, each with the ascending ranks of the instruments it names.

    Postings are stored flat (``offsets``/``flat``, CSR style). Keys are grouped in blocks of
    ``_BLOCK``, blocks in blocks of ``_BLOCK`` and so on; every block keeps its ``_TOP`` best
    ranks, so the best ranks under any prefix come from O(_BLOCK x levels) pieces.
    """

    __slots__ = ("flat", "keys", "levels", "offsets")

    def __init__(self, postings: dict[str, list[int]]) -> None:
        self.keys = sorted(postings)
        lists = [postings[key] for key in self.keys]
        self.offsets = array("q", accumulate(map(len, lists), initial=0))
        self.flat = array("q", chain.from_iterable(lists))
        self.levels = self._build_levels()

    def _build_levels(self) -> list[list[array[int]]]:
        offsets, flat = self.offsets, self.flat
        count = len(self.keys)
        first: list[array[int]] = []
        for start in range(0, count, _BLOCK):
            end = min(start + _BLOCK, count)
            if offsets[end] - offsets[start] <= _TOP:
                members = set(flat[offsets[start] : offsets[end]])
            else:
                members = set()
                for key_id in range(start, end):
                    lo = offsets[key_id]
                    members.update(flat[lo : min(offsets[key_id + 1], lo + _TOP)])
            first.append(array("q", sorted(members)[:_TOP]))
        levels = [first]
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append(
                [
                    array("q", sorted(set(chain.from_iterable(below[i : i + _BLOCK])))[:_TOP])
                    for i in range(0, len(below), _BLOCK)
                ]
            )
        return levels

    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """Key ids ``lo``..``hi - 1`` are the keys starting with ``prefix``."""
        lo = bisect_left(self.keys, prefix)
        return lo, bisect_left(self.keys, prefix + _AFTER_LAST, lo)

    def postings(self, key_id: int, k: int | None = None) -> array[int]:
        """The (first ``k``) ranks of one key, ascending."""
        start, end = self.offsets[key_id], self.offsets[key_id + 1]
        return self.flat[start : end if k is None else min(end, start + k)]

    def exact(self, key: str, k: int) -> array[int]:
        """The best ``k`` ranks of ``key`` (empty when the key is absent)."""
        lo = bisect_left(self.keys, key)
        if lo < len(self.keys) and self.keys[lo] == key:
            return self.postings(lo, k)
        return array("q")

    def best(self, prefix: str, k: int) -> list[int]:
        """The ``k`` best distinct ranks among keys starting with ``prefix``."""
        lo, hi = self.prefix_range(prefix)
        if lo >= hi:
            return []
        offsets, flat = self.offsets, self.flat
        candidates: list[int] = []
        if k > _TOP:
            for key_id in range(lo, hi):
                start = offsets[key_id]
                candidates.extend(flat[start : min(offsets[key_id + 1], start + k)])
            return heapq.nsmallest(k, set(candidates))
        levels = self.levels
        position = lo
        while position < hi:
            size = _BLOCK ** (len(levels) + 1)
            for level in range(len(levels) - 1, -1, -1):
                size //= _BLOCK
                if position % size == 0 and position + size <= hi:
                    candidates.extend(levels[level][position // size][:k])
                    position += size
                    break
            else:
                start = offsets[position]
                candidates.extend(flat[start : min(offsets[position + 1], start + k)])
                position += 1
        return heapq.nsmallest(k, set(candidates))


class InstrumentIndex:
    """Read-only index over instruments: ``by_token``, ``get(exchange, symbol)`` and ``search``.

    Tokens are unique per exchange in a master, not always across exchanges; ``by_token(token)``
    answers with the first instrument seen for a token (``by_token(token, exchange)`` picks the
    exchange). A repeated ``(exchange, symbol)`` keeps the first row and is counted in
    ``duplicates``.
    """

    __slots__ = (
        "_by_symbol",
        "_by_token",
        "_category_starts",
        "_instruments",
        "_main",
        "_pair_postings",
        "_ranked",
        "_root_key_ids",
        "_root_line_starts",
        "_root_texts",
        "_roots",
        "_symbol_alternates",
        "_token_alternates",
        "_words",
        "duplicates",
    )

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._build(instruments)
        finally:
            if collecting:
                gc.enable()

    # -- build -----------------------------------------------------------------------------

    def _build(self, instruments: Iterable[Instrument]) -> None:
        rows = tuple(instruments)
        self._instruments = rows
        by_token: dict[str, Instrument] = {}
        token_alternates: dict[str, list[Instrument]] = {}
        by_symbol: dict[str, Instrument] = {}
        symbol_alternates: dict[str, list[Instrument]] = {}
        unique: list[Instrument] = []
        duplicates = 0
        for inst in rows:
            symbol = inst.symbol
            listed = by_symbol.get(symbol)
            if listed is None:
                by_symbol[symbol] = inst
            else:  # the same symbol again: another exchange, or a duplicate row
                others = symbol_alternates.setdefault(symbol, [])
                if listed.exchange == inst.exchange or any(
                    o.exchange == inst.exchange for o in others
                ):
                    duplicates += 1
                    continue
                others.append(inst)
            unique.append(inst)
            if inst.token in by_token:
                token_alternates.setdefault(inst.token, []).append(inst)
            else:
                by_token[inst.token] = inst
        self._by_token = by_token
        self._token_alternates = token_alternates
        self._by_symbol = by_symbol
        self._symbol_alternates = symbol_alternates
        self.duplicates = duplicates

        rank_keys = list(map(_rank_key, unique))
        order = sorted(range(len(unique)), key=rank_keys.__getitem__)
        ranked = [unique[i] for i in order]
        self._ranked = ranked
        starts = [len(ranked)] * (_CATEGORIES + 1)
        for rank in range(len(ranked) - 1, -1, -1):
            starts[rank_keys[order[rank]][0]] = rank
        for category in range(_CATEGORIES - 1, -1, -1):
            starts[category] = min(starts[category], starts[category + 1])
        self._category_starts = tuple(starts)
        del rank_keys, order

        main: dict[str, list[int]] = {}
        words: dict[str, list[int]] = {}
        roots: set[str] = set()
        names: dict[str, tuple[str, tuple[str, ...]]] = {}
        lines: list[str] = []
        for rank, inst in enumerate(ranked):
            symbol = inst.symbol
            if symbol.isupper() and symbol.isalnum() and symbol.isascii():
                keys = [symbol]
            else:
                keys = [normalize(symbol)]
            if _CATEGORY.get(inst.instrument_type, 3) < 2:
                base = _cash_base(inst)
                root = normalize(base) if base is not None else keys[0]
                keys.append(root)
                roots.add(root)
            described = names.get(inst.name)
            if described is None:
                name_words = inst.name.split()
                described = (
                    normalize(inst.name),
                    tuple(normalize("".join(name_words[i:])) for i in range(1, len(name_words))),
                )
                names[inst.name] = described
                roots.add(described[0])
            keys.append(described[0])
            lines.append(f"{keys[0]}|{described[0]}")
            for key in keys:
                found = main.get(key)
                if found is None:
                    main[key] = [rank]
                elif found[-1] != rank:
                    found.append(rank)
            for key in described[1]:
                found = words.get(key)
                if found is None:
                    words[key] = [rank]
                elif found[-1] != rank:
                    found.append(rank)
        main.pop("", None)
        words.pop("", None)
        roots.discard("")

        # One text per underlying: the "SYMBOL|NAME" lines of its instruments in rank order, so
        # words-mode filters are found by str.find instead of a Python loop over every contract.
        root_list = sorted(roots)
        texts: list[str] = []
        line_starts: list[array[int]] = []
        for root in root_list:
            root_lines = [lines[rank] for rank in main[root]]
            texts.append("\n".join(root_lines) + "\n")
            line_starts.append(
                array("q", accumulate((len(line) + 1 for line in root_lines), initial=0))
            )
        del lines
        self._root_texts = texts
        self._root_line_starts = line_starts

        self._main = _KeyIndex(main)
        self._words = _KeyIndex(words)
        del main, words

        self._roots = root_list
        keys = self._main.keys
        self._root_key_ids = array("q", (bisect_left(keys, root) for root in root_list))
        pairs: dict[str, list[int]] = {}
        for root_id, root in enumerate(root_list):
            for letters in {root[i : i + 2] for i in range(len(root) - 1)}:
                pairs.setdefault(letters, []).append(root_id)
        self._pair_postings = {letters: array("q", ids) for letters, ids in pairs.items()}

    # -- lookups ---------------------------------------------------------------------------

    def by_token(self, token: str, exchange: Exchange | str | None = None) -> Instrument | None:
        """The instrument with ``token`` (on ``exchange`` when given), or ``None``."""
        found = self._by_token.get(token)
        if exchange is None or found is None or found.exchange == exchange:
            return found
        for other in self._token_alternates.get(token, ()):
            if other.exchange == exchange:
                return other
        return None

    def __getitem__(self, token: str) -> Instrument:
        """The instrument with ``token``; ``KeyError`` naming the token when there is none."""
        found = self._by_token.get(token)
        if found is None:
            raise KeyError(f"no instrument with token {token!r} in the index")
        return found

    def __contains__(self, token: object) -> bool:
        """True when an instrument has this token."""
        return token in self._by_token

    def get(self, exchange: Exchange | str, symbol: str) -> Instrument | None:
        """The instrument listed as ``symbol`` on ``exchange`` (``NSE``/``SBIN-EQ``), or ``None``.

        The symbol is matched exactly, then upper-cased; on a cash segment ``SBIN`` also finds
        ``SBIN-EQ``.
        """
        exch = str(exchange).upper()
        found = self._on_exchange(exch, symbol)
        if found is None:
            upper = symbol.upper()
            found = self._on_exchange(exch, upper)
            if found is None and exch in ("NSE", "BSE") and "-" not in upper:
                found = self._on_exchange(exch, upper + "-EQ")
        return found

    def _on_exchange(self, exchange: str, symbol: str) -> Instrument | None:
        found = self._by_symbol.get(symbol)
        if found is None or found.exchange == exchange:
            return found
        for other in self._symbol_alternates.get(symbol, ()):
            if other.exchange == exchange:
                return other
        return None

    def __len__(self) -> int:
        """Number of instruments given (including rows dropped as duplicates)."""
        return len(self._instruments)

    def __iter__(self) -> Iterator[Instrument]:
        """The instruments in the order given."""
        return iter(self._instruments)

    # -- search ----------------------------------------------------------------------------

    def search(self, query: str, limit: int = 20) -> list[Instrument]:
        """Up to ``limit`` instruments matching ``query``, best first (see the module docstring)."""
        if limit <= 0:
            return []
        words = [w for w in (normalize(part) for part in query.split()) if w]
        if not words:
            return []
        whole = "".join(words)
        found: list[int] = []
        seen: set[int] = set()

        def take(ranks: Iterable[int]) -> None:
            for rank in ranks:
                if len(found) >= limit:
                    return
                if rank not in seen:
                    seen.add(rank)
                    found.append(rank)

        take(self._main.exact(whole, limit))
        if len(found) < limit:
            take(self._main.best(whole, limit + len(found)))
        if len(found) < limit:
            take(self._words.best(whole, limit + len(found)))
        if len(found) < limit and len(words) > 1:
            take(self._word_ranks(words, limit))
        if len(found) < limit:
            take(self._fuzzy_ranks(whole, limit))
        ranked = self._ranked
        return [ranked[rank] for rank in found]

    def _word_ranks(self, words: Sequence[str], limit: int) -> list[int]:
        """Words mode: a prefix word for the underlying, other words as filters or kinds."""
        kinds: set[int] = set()
        side: str | None = None
        text_words: list[str] = []
        for word in words:
            if word in _KIND_WORDS:
                kinds |= _KIND_WORDS[word]
                side = _OPTION_SIDE_WORDS.get(word, side)
            else:
                text_words.append(word)
        if not text_words:
            return []
        head, filters = text_words[0], text_words[1:]
        bounds = self._category_starts
        windows = (
            [(bounds[c], bounds[c + 1]) for c in sorted(kinds)]
            if kinds
            else [(0, len(self._ranked))]
        )
        needles = [*filters, f"{side}|"] if side is not None else filters
        probe = max(needles, key=len) if needles else None
        r_lo = bisect_left(self._roots, head)
        r_hi = bisect_left(self._roots, head + _AFTER_LAST, r_lo)
        offsets, flat = self._main.offsets, self._main.flat
        budget = _WORD_SCAN_BUDGET
        hits: list[tuple[int, int]] = []
        for root_id in range(r_lo, min(r_hi, r_lo + budget)):
            budget -= 1
            tier = 0 if self._roots[root_id] == head else 1
            key_id = self._root_key_ids[root_id]
            k_lo, k_hi = offsets[key_id], offsets[key_id + 1]
            text, starts = self._root_texts[root_id], self._root_line_starts[root_id]
            for w_lo, w_hi in windows:
                first = bisect_left(flat, w_lo, k_lo, k_hi) - k_lo
                stop = bisect_left(flat, w_hi, k_lo, k_hi) - k_lo
                if first >= stop:
                    continue
                if probe is None:
                    last = min(stop, first + limit)
                    hits.extend((tier, flat[k_lo + line]) for line in range(first, last))
                    continue
                matched, position, end = 0, starts[first], starts[stop]
                while matched < limit and budget > 0:
                    found = text.find(probe, position, end)
                    if found < 0:
                        break
                    budget -= 1
                    line = bisect_right(starts, found, first, stop) - 1
                    position = starts[line + 1]
                    candidate = text[starts[line] : position - 1]
                    if all(needle in candidate for needle in needles):
                        hits.append((tier, flat[k_lo + line]))
                        matched += 1
            if budget <= 0:
                break
        return [rank for _, rank in sorted(set(hits))]

    def _fuzzy_ranks(self, query: str, limit: int) -> list[int]:
        """Typo-tolerant matches over the distinct underlying names, expanded to instruments."""
        if len(query) < 3:
            return []
        pairs = {query[i : i + 2] for i in range(len(query) - 1)}
        lists = [self._pair_postings[p] for p in pairs if p in self._pair_postings]
        if not lists:
            return []
        overlap = Counter(chain.from_iterable(lists))
        needed = max(1, (len(pairs) + 1) // 2)
        roots = self._roots
        shortlist = heapq.nlargest(
            _FUZZY_CANDIDATES,
            (root_id for root_id, shared in overlap.items() if shared >= needed),
            key=lambda root_id: (overlap[root_id], -len(roots[root_id])),
        )
        max_distance = _fuzzy_limit(len(query))
        scored: list[tuple[int, int, int, str, int]] = []
        for root_id in shortlist:
            root = roots[root_id]
            distance = _osa_prefix_distance(query, root, max_distance)
            if distance > max_distance and not (
                root[0] == query[0] and _is_subsequence(query, root)
            ):
                continue
            scored.append((distance, abs(len(root) - len(query)), -overlap[root_id], root, root_id))
        scored.sort()
        out: list[int] = []
        for *_, root_id in scored:
            out.extend(self._main.postings(self._root_key_ids[root_id], limit))
            if len(out) >= 4 * limit:
                break
        return out
