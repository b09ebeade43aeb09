"""Dataset file I/O and record shapes.

Reads a dataset file (JSONL, JSON, CSV, Parquet, or a Hugging Face ``save_to_disk`` folder),
detects the record shape (prompt/response, Alpaca, chat messages, ShareGPT), turns each row into
a normalised chat :class:`Sample` with a stable content-hash id, and reports every dropped row.
:func:`write_records` writes raw rows back in the format they were read in.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path

FORMATS = ("jsonl", "json", "csv", "parquet", "hf")
SHAPES = ("prompt_response", "alpaca", "messages", "sharegpt")
PROMPT_KEYS = ("prompt", "question", "query")
RESPONSE_KEYS = ("response", "completion", "answer")
CONVERSATION_KEYS = ("conversations", "conversation")
FIELD_NAMES = ("prompt", "response", "system", "instruction", "input", "output", "messages", "prefill")
ROLE_MAP = {"system": "system", "user": "user", "human": "user", "assistant": "assistant",
            "gpt": "assistant", "model": "assistant", "chatgpt": "assistant"}
_EXTENSIONS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
BUILTIN_PREFIX = "builtin:"


class DataError(ValueError):
    """Bad input; the message names the file, the line and field where known, and what to do."""


@dataclass
class Record:
    """One input row as read: ``index`` is 0-based, ``line`` 1-based (``index + 1`` where no lines)."""

    index: int
    line: int
    raw: dict


@dataclass
class Sample:
    """A normalised chat sample: ``prompt`` ends with a user turn, ``response`` is the answer. ``prefill`` (optional,
    from a record's ``prefill`` field) is the start of the assistant turn that comes before the response and, like
    the prompt, is not trained on: e.g. the first words of a harmful answer followed by a refusal as the response,
    so that a model learns to recover from a compliant start (Qi et al. 2024, arXiv:2406.05946)."""

    id: str
    index: int
    line: int
    prompt: list[dict]
    response: str
    prefill: str = ""


@dataclass
class DataReport:
    """What was read and what was dropped (or later truncated), row by row."""

    path: str
    format: str
    shape: str
    rows: int
    dropped: list[dict] = field(default_factory=list)
    truncated: list[dict] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.rows - len(self.dropped)

    def counts(self) -> dict[str, int]:
        """Reason -> number of rows, for dropped and truncated rows."""
        return dict(Counter(d["reason"] for d in self.dropped + self.truncated))

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "shape": self.shape, "rows": self.rows,
                "kept": self.kept, "counts": self.counts(),
                "dropped": list(self.dropped), "truncated": list(self.truncated)}

    def summary(self) -> str:
        reasons = Counter(d["reason"] for d in self.dropped)
        dropped = ", ".join(f"{n} {r}" for r, n in reasons.items()) or "0"
        return (f"{os.path.basename(self.path) or self.path}: {self.rows} rows, {self.kept} kept; "
                f"dropped {dropped}; truncated {len(self.truncated)}")


# ----------------------------------------------------------------------------- ids

def _norm_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = (re.sub(r"[ \t]+", " ", ln).rstrip() for ln in text.split("\n"))
    return "\n".join(lines).strip()


def sample_id(prompt: list[dict], response: str, prefill: str = "") -> str:
    """First 16 hex chars of sha256 over the whitespace/Unicode-normalised messages and response (and the prefill,
    where there is one: samples without a prefill keep the ids they had before the field existed)."""
    payload = {"prompt": [[str(m["role"]).lower(), _norm_text(m["content"])] for m in prompt],
               "response": _norm_text(response)}
    if prefill:
        payload["prefill"] = _norm_text(prefill)
    blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# ----------------------------------------------------------------------------- reading

def _builtin(path):
    """``builtin:NAME`` -> the file of that built-in dataset (see seal.builtin); any other path unchanged."""
    if isinstance(path, str) and path.startswith(BUILTIN_PREFIX):
        from .builtin import builtin_path

        return builtin_path(path[len(BUILTIN_PREFIX):])
    return path


def _open_text(path: Path, mode: str = "r"):
    """Open a (possibly gzipped) text file; reading skips a UTF-8 byte-order mark."""
    encoding = "utf-8-sig" if mode == "r" else "utf-8"
    if path.name.endswith(".gz"):
        return gzip.open(path, mode + "t", encoding=encoding, newline="")
    return open(path, mode, encoding=encoding, newline="")


def _format_of(path: Path) -> str | None:
    return _EXTENSIONS.get(Path(path.name.removesuffix(".gz")).suffix.lower())


def _is_hf_folder(path: Path) -> bool:
    return any((path / n).exists() for n in ("state.json", "dataset_dict.json"))


def _resolve(path: Path, fmt: str | None) -> tuple[Path, str]:
    """Find the file to read and its format (a folder is an HF dataset or holds one data file)."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. Check the path.")
    if fmt is not None and fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if path.is_dir():
        if fmt == "hf" or _is_hf_folder(path):
            return path, "hf"
        files = [p for p in sorted(path.iterdir()) if p.is_file() and _format_of(p)]
        if len(files) != 1:
            found = ", ".join(p.name for p in files) or "none"
            raise DataError(f"{path}: a folder must be a Hugging Face dataset (save_to_disk) or hold "
                            f"exactly one .jsonl/.json/.csv/.parquet file (found: {found}). "
                            "Pass the file itself.")
        path = files[0]
    fmt = fmt or _format_of(path)
    if fmt == "hf" and not path.is_dir():
        raise DataError(f"{path}: format 'hf' needs a folder written by Dataset.save_to_disk.")
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the extension; use .jsonl, .json, .csv, "
                        ".parquet or a dataset folder, or pass --format.")
    return path, fmt


def _iter_jsonl(path: Path) -> Iterator[Record]:
    with _open_text(path) as f:
        n = 0
        for line_no, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{line_no}: invalid JSON ({e.msg} at column {e.colno}). Each line "
                                "must hold one JSON object; fix the line, or if the file is one JSON "
                                "document name it .json or pass --format json.") from None
            yield Record(n, line_no, obj)
            n += 1


def _iter_json(path: Path) -> Iterator[Record]:
    """A JSON document is parsed whole (it has no row boundaries to stream on)."""
    with _open_text(path) as f:
        try:
            obj = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno}). If the file "
                            "has one object per line, name it .jsonl or pass --format jsonl.") from None
    if isinstance(obj, dict):
        lists = [k for k, v in obj.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{path}: expected a JSON list of records, or an object with one list-valued "
                            f"key such as {{\"data\": [...]}} (list-valued keys: {lists or 'none'}).")
        obj = obj[lists[0]]
    if not isinstance(obj, list):
        raise DataError(f"{path}: expected a JSON list of records, got {type(obj).__name__}.")
    for i, row in enumerate(obj):
        yield Record(i, i + 1, row)


def _iter_csv(path: Path) -> Iterator[Record]:
    n = 0
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        last_line = reader.line_num
        for row in reader:
            start, last_line = last_line + 1, reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{start}: row has {len(row)} fields but the header has "
                                f"{len(header)}. Check the quoting of fields with commas or newlines.")
            yield Record(n, start, dict(zip(header, row, strict=True)))
            n += 1


def _iter_parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            yield Record(n, n + 1, row)
            n += 1


def _iter_hf(path: Path) -> Iterator[Record]:
    """A saved Hugging Face dataset (Arrow, memory-mapped), read in slices."""
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        splits = list(ds.keys())
        if "train" in ds:
            ds = ds["train"]
        elif len(splits) == 1:
            ds = ds[splits[0]]
        else:
            raise DataError(f"{path}: dataset has splits {', '.join(splits)} and no 'train' split. "
                            "Save the split you want with save_to_disk and pass that folder.")
    for start in range(0, len(ds), 4096):
        for i, row in enumerate(_rows_of(ds[start:start + 4096]), start):  # a slice is a dict of columns
            yield Record(i, i + 1, row)


def _rows_of(columns: dict) -> list[dict]:
    keys = list(columns)
    return [dict(zip(keys, values, strict=True)) for values in zip(*(columns[k] for k in keys), strict=True)]


def iter_records(path, fmt: str | None = None) -> tuple[Iterator[Record], str, Path]:
    """The rows of ``path`` (or ``builtin:NAME``) one at a time, without holding the file's rows in memory (JSONL,
    CSV, Parquet, saved HF datasets; a .json document is parsed whole). Returns (rows, format, source path); the
    rows raise DataError for a row that is not an object, and for a file with no rows once it is read."""
    src, fmt = _resolve(Path(_builtin(path)), fmt)
    readers = {"jsonl": _iter_jsonl, "json": _iter_json, "csv": _iter_csv, "parquet": _iter_parquet}

    def checked() -> Iterator[Record]:
        n = 0
        for rec in readers.get(fmt, _iter_hf)(src):
            if not isinstance(rec.raw, dict):
                raise DataError(f"{_where(src, rec, fmt)}: expected an object (a dict of fields), got "
                                f"{type(rec.raw).__name__}.")
            n += 1
            yield rec
        if not n:
            raise DataError(f"{src}: no rows found (empty file?). Check that the file holds data.")
    return checked(), fmt, src


def read_records(path, fmt: str | None = None) -> tuple[list[Record], str]:
    """Read every row of ``path`` (or ``builtin:NAME``); returns the records and the format used."""
    rows, fmt, _ = iter_records(path, fmt)
    return list(rows), fmt


def _where(path, rec: Record, fmt: str) -> str:
    return f"{path}:{rec.line}" if fmt in ("jsonl", "csv") else f"{path}: row {rec.index}"


# ----------------------------------------------------------------------------- shapes

def _keys(records: list[Record]) -> dict:
    """Keys of the first rows, in first-seen order (a dict used as an ordered set)."""
    return {k: None for rec in records[:10] for k in rec.raw}


def detect_shape(records: list[Record], path="") -> str:
    """Guess the record shape from the keys of the first rows."""
    keys = _keys(records)
    if "messages" in keys:
        return "messages"
    if any(k in keys for k in CONVERSATION_KEYS):
        return "sharegpt"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if any(k in keys for k in PROMPT_KEYS) and any(k in keys for k in RESPONSE_KEYS):
        return "prompt_response"
    seen = ", ".join(map(str, keys)) or "(none)"
    raise DataError(f"{path}: cannot detect the record shape from keys {seen}. "
                    f"Known shapes: {', '.join(SHAPES)} (prompt keys {'/'.join(PROMPT_KEYS)}, response keys "
                    f"{'/'.join(RESPONSE_KEYS)}; alpaca instruction/input/output; 'messages'; "
                    "'conversations'). Pass --shape, or name the fields with "
                    "--fields prompt=NAME,response=NAME.")


class _Malformed(Exception):
    def __init__(self, name: str, what: str, hint: str = ""):
        super().__init__(f"field '{name}': {what}" + (f". {hint}" if hint else ""))


def _get(raw: dict, key: str, hint: str = "", *, optional=False):
    if key not in raw or raw[key] is None:
        if optional:
            return None
        keys = ", ".join(map(str, raw)) or "none"
        raise _Malformed(key, f"{'missing' if key not in raw else 'null'} (record keys: {keys})", hint)
    return raw[key]


def _text(raw: dict, key: str, hint: str = "", optional=False) -> str | None:
    value = _get(raw, key, hint, optional=optional)
    if value is not None and not isinstance(value, str):
        raise _Malformed(key, f"expected a string, got {type(value).__name__}")
    return value


def _system(raw: dict, key: str) -> list[dict]:
    text = _text(raw, key, optional=True)
    return [{"role": "system", "content": text}] if text and text.strip() else []


def _messages(raw: dict, key: str) -> list[dict]:
    """Parse a role/content (or ShareGPT from/value) list into normalised messages."""
    hint = "Pass --shape or name the field"
    value = _get(raw, key, hint)
    if isinstance(value, str):  # e.g. a JSON-encoded list in a CSV cell
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _Malformed(key, "expected a list of messages, got a string that is not JSON") from None
    if not isinstance(value, list):
        raise _Malformed(key, f"expected a list of messages, got {type(value).__name__}")
    msgs = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise _Malformed(key, f"message {i} is {type(m).__name__}, expected an object")
        role_key, content_key = ("role", "content") if "role" in m else ("from", "value")
        role = ROLE_MAP.get(str(m.get(role_key, "")).lower())
        if role is None:
            raise _Malformed(key, f"message {i} has role {m.get(role_key)!r}; expected one of "
                             f"{', '.join(ROLE_MAP)}")
        if not isinstance(m.get(content_key), str):
            raise _Malformed(key, f"message {i} ({role}) content is not a string")
        if role == "system" and any(p["role"] != "system" for p in msgs):
            raise _Malformed(key, f"message {i}: system message after the conversation started")
        msgs.append({"role": role, "content": m[content_key]})
    return msgs


def _chat(raw: dict, key: str) -> tuple[list[dict], str]:
    """Split a role/content (or ShareGPT from/value) list into prompt messages and the final answer."""
    msgs = _messages(raw, key)
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
    if last is None:
        raise _Malformed(key, "no assistant message, so there is no response to train on")
    if last != len(msgs) - 1:
        raise _Malformed(key, f"conversation continues after the last assistant message "
                              f"(message {last}); it must end with the answer")
    prompt = msgs[:last]
    if not prompt or prompt[-1]["role"] != "user":
        got = prompt[-1]["role"] if prompt else "nothing"
        raise _Malformed(key, f"the last assistant message must follow a user message, not {got}")
    return prompt, msgs[last]["content"]


def _pick(keys: dict, override: str | None, candidates: tuple[str, ...]) -> str:
    return override or next((k for k in candidates if k in keys), candidates[0])


def _make_parser(shape: str, records: list[Record], fields: dict):
    """Return ``parse(raw) -> (prompt messages, response)`` for the shape, with field names fixed once."""
    keys = _keys(records)
    system_key = fields.get("system", "system")
    if shape == "prompt_response":
        pk = _pick(keys, fields.get("prompt"), PROMPT_KEYS)
        rk = _pick(keys, fields.get("response"), RESPONSE_KEYS)

        def parse(raw):
            prompt = _text(raw, pk, "Name it with --fields prompt=NAME.")
            response = _text(raw, rk, "Name it with --fields response=NAME.")
            return _system(raw, system_key) + [{"role": "user", "content": prompt}], response
    elif shape == "alpaca":
        ik, xk, ok = (fields.get(n, n) for n in ("instruction", "input", "output"))

        def parse(raw):
            instruction = _text(raw, ik, "Pass --shape or name the field.")
            extra = _text(raw, xk, optional=True) or ""
            output = _text(raw, ok, "Pass --shape or name the field.")
            user = "\n\n".join(p for p in (instruction, extra) if p.strip())
            return _system(raw, system_key) + [{"role": "user", "content": user}], output
    elif shape in ("messages", "sharegpt"):
        default = "messages" if shape == "messages" else _pick(keys, None, CONVERSATION_KEYS)
        mk = fields.get("messages", default)

        def parse(raw):
            return _chat(raw, mk)
    else:
        raise DataError(f"unknown shape {shape!r}; use one of {', '.join(SHAPES)}.")
    return parse


def _shape_from_fields(fields: dict) -> str | None:
    if "prompt" in fields or "response" in fields:
        return "prompt_response"
    if {"instruction", "input", "output"} & set(fields):
        return "alpaca"
    return "messages" if "messages" in fields else None


def _check_fields(path, fields: dict | None) -> dict:
    fields = dict(fields or {})
    unknown = set(fields) - set(FIELD_NAMES)
    if unknown:
        raise DataError(f"{path}: unknown field override(s) {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(FIELD_NAMES)}.")
    return fields


def _read_with_fields(path, fields: dict | None, fmt: str | None):
    """Check field overrides, resolve builtin: names and read the rows: (fields, source path, records, format)."""
    fields = _check_fields(path, fields)
    src, fmt = _resolve(Path(_builtin(path)), fmt)
    records, fmt = read_records(src, fmt)
    return fields, src, records, fmt


def iter_samples(path, *, shape=None, fields: dict | None = None, on_error="raise",
                 fmt=None) -> tuple[Iterator[tuple[Record, Sample | None]], DataReport]:
    """The rows of ``path`` one at a time, each with its sample (None for a dropped row, recorded in the report),
    holding only the ids seen so far (for duplicates): what tokenising a large file needs. The shape is detected
    from the first rows, as load_samples does; the report's row count is complete once the rows are consumed.

    ``on_error="raise"`` raises :class:`DataError` on the first malformed row; ``"skip"`` drops it
    with reason ``"malformed"``. Empty prompts/responses and duplicates are always dropped.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    fields = _check_fields(path, fields)
    rows, fmt, src = iter_records(path, fmt)
    head = list(islice(rows, 10))  # shape and field names come from the first rows (_keys); no rows: DataError
    shape = shape or _shape_from_fields(fields) or detect_shape(head, src)
    parse = _make_parser(shape, head, fields)
    prefill_key = fields.get("prefill", "prefill")
    report = DataReport(path=str(path), format=fmt, shape=shape, rows=0)

    def drop(rec, sid, reason, detail):
        report.dropped.append({"index": rec.index, "line": rec.line, "id": sid,
                               "reason": reason, "detail": detail})

    def stream():
        seen: dict[str, tuple[int, int]] = {}   # id -> (row index, line) of its first occurrence
        for rec in chain(head, rows):
            report.rows += 1
            try:
                prompt, response = parse(rec.raw)
                prefill = _text(rec.raw, prefill_key, optional=True) or ""
            except _Malformed as e:
                if on_error == "raise":
                    raise DataError(f"{_where(src, rec, fmt)}: {e}") from None
                drop(rec, None, "malformed", str(e))
                yield rec, None
                continue
            sid = sample_id(prompt, response, prefill)
            sample = None
            if not response.strip():
                drop(rec, sid, "empty_response", "response is empty or whitespace")
            elif not prompt[-1]["content"].strip():
                drop(rec, sid, "empty_prompt", "prompt (last user message) is empty or whitespace")
            elif sid in seen:
                drop(rec, sid, "duplicate", f"same as row {seen[sid][0]} (line {seen[sid][1]})")
            else:
                seen[sid] = (rec.index, rec.line)
                sample = Sample(sid, rec.index, rec.line, prompt, response, prefill)
            yield rec, sample
    return stream(), report


def load_samples(path, *, shape=None, fields: dict | None = None, on_error="raise",
                 fmt=None) -> tuple[list[Sample], list[Record], DataReport]:
    """Read ``path`` and return the kept samples, all records, and a report of dropped rows (iter_samples, kept
    in memory)."""
    rows, report = iter_samples(path, shape=shape, fields=fields, on_error=on_error, fmt=fmt)
    samples, records = [], []
    for rec, sample in rows:
        records.append(rec)
        if sample is not None:
            samples.append(sample)
    return samples, records, report


def _prompt_shape(records: list[Record], path) -> str:
    """Like detect_shape, for rows that may have no response."""
    keys = _keys(records)
    if "messages" in keys:
        return "messages"
    if any(k in keys for k in CONVERSATION_KEYS):
        return "sharegpt"
    if "instruction" in keys:
        return "alpaca"
    if any(k in keys for k in PROMPT_KEYS):
        return "prompt_response"
    seen = ", ".join(map(str, keys)) or "(none)"
    raise DataError(f"{path}: cannot find the prompt among keys {seen}; expected {'/'.join(PROMPT_KEYS)}, "
                    "instruction (+ input), 'messages' or 'conversations'. Pass --shape, or name the field "
                    "with --fields prompt=NAME.")


def load_prompts(path, *, shape=None, fields: dict | None = None, fmt=None) -> list[dict]:
    """Read prompts for evaluation from any supported file or ``builtin:NAME``; a response may be absent.

    Returns one dict per row: ``id`` (``sample_id(messages, "")``), ``index``, ``prompt`` (the last user
    message), ``messages`` (the prompt messages, system included) and the row's other scalar fields (such as
    category, answer, source or the response). A malformed or empty prompt raises :class:`DataError` naming
    the file, line and field; repeated prompts are kept."""
    fields, src, records, fmt = _read_with_fields(path, fields, fmt)
    shape = shape or _shape_from_fields(fields) or _prompt_shape(records, src)
    keys, system_key = _keys(records), fields.get("system", "system")
    if shape == "prompt_response":
        used = [_pick(keys, fields.get("prompt"), PROMPT_KEYS), system_key]
    elif shape == "alpaca":
        used = [fields.get(n, n) for n in ("instruction", "input")] + [system_key]
    elif shape in ("messages", "sharegpt"):
        used = [fields.get("messages", "messages" if shape == "messages" else _pick(keys, None, CONVERSATION_KEYS))]
    else:
        raise DataError(f"unknown shape {shape!r}; use one of {', '.join(SHAPES)}.")

    def parse(raw) -> list[dict]:
        if shape == "prompt_response":
            user = _text(raw, used[0], "Name it with --fields prompt=NAME.")
            return _system(raw, system_key) + [{"role": "user", "content": user}]
        if shape == "alpaca":
            instruction = _text(raw, used[0], "Pass --shape or name the field.")
            extra = _text(raw, used[1], optional=True) or ""
            user = "\n\n".join(p for p in (instruction, extra) if p.strip())
            return _system(raw, system_key) + [{"role": "user", "content": user}]
        msgs = _messages(raw, used[0])
        if msgs and msgs[-1]["role"] == "assistant":
            msgs = msgs[:-1]  # the answer, when there is one
        if not msgs or msgs[-1]["role"] != "user":
            raise _Malformed(used[0], "the prompt must end with a user message (optionally followed by the answer)")
        return msgs

    reserved = {"id", "index", "prompt", "messages", *used}
    prompts = []
    for rec in records:
        try:
            messages = parse(rec.raw)
            if not messages[-1]["content"].strip():
                raise _Malformed(used[0], "the prompt (last user message) is empty or whitespace")
        except _Malformed as e:
            raise DataError(f"{_where(src, rec, fmt)}: {e}") from None
        extra = {k: v for k, v in rec.raw.items()
                 if k not in reserved and (v is None or isinstance(v, (str, int, float, bool)))}
        prompts.append({"id": sample_id(messages, ""), "index": rec.index, "prompt": messages[-1]["content"],
                        "messages": messages, **extra})
    return prompts


# ----------------------------------------------------------------------------- writing

def _columns(rows: list[dict]) -> dict[str, list]:
    keys = dict.fromkeys(k for row in rows for k in row)
    return {k: [row.get(k) for row in rows] for k in keys}


def _csv_cell(value):
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def _write_file(rows: list[dict], tmp: Path, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pydict(_columns(rows)), tmp)
        return
    with _open_text(tmp, "w") as f:
        if fmt == "jsonl":
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        elif fmt == "json":
            json.dump(rows, f, ensure_ascii=False, indent=2, default=str)
            f.write("\n")
        else:
            writer = csv.DictWriter(f, fieldnames=list(_columns(rows)))
            writer.writeheader()
            writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)


def write_records(rows: list[dict], path, fmt: str) -> None:
    """Write raw rows to ``path`` in ``fmt``, atomically (temporary path in the same folder, then rename)."""
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt != "hf":
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                    suffix=".tmp.gz" if path.name.endswith(".gz") else ".tmp")
        os.close(fd)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)  # mkstemp uses 0600
        try:
            _write_file(rows, Path(tmp), fmt)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    import datasets

    if path.is_dir() and any(path.iterdir()) and not _is_hf_folder(path):
        raise DataError(f"{path}: folder exists and is not a saved dataset; refusing to replace it. "
                        "Choose another output path.")
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        datasets.Dataset.from_dict(_columns(rows)).save_to_disk(str(tmp_dir / "ds"))
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp_dir / "ds", path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def file_fingerprint(path) -> dict:
    """sha256 and size of a file, or of every file in a folder (relative names included, sorted)."""
    path = Path(_builtin(path))
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. Check the path.")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest, size = hashlib.sha256(), 0
    for p in files:
        if path.is_dir():
            digest.update(p.relative_to(path).as_posix().encode("utf-8") + b"\0")
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
    return {"path": str(path.resolve()), "sha256": digest.hexdigest(), "bytes": size}
