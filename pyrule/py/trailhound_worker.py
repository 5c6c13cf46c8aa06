# trailhound's Python worker: runs Panther Python rules for trailhound.
#
# Written for trailhound from Panther's public documentation of the rule
# API (event.get, deep_get, deep_walk, udm, udm_path, the p_ fields, the KV
# cache helpers); it contains no code of Panther's runtime packages.
#
# Protocol: frames of a 4-byte big-endian length and a payload whose first
# byte is the operation. trailhound -> worker: L (load, JSON), E (evaluate
# an event: JSON header, newline, the raw event), T (run a unit test,
# JSON), R (reply to a cache request, JSON), P (ping). worker -> trailhound:
# D (done: JSON answer), C (cache request, JSON). B evaluates a batch: a JSON
# header (each event's header and length), a newline, the raw events one
# after another. An event's answer is a list with each rule's result: 0 for
# rule() false, else a JSON object.

import ast
import datetime as _dt
import importlib.machinery
import importlib.util
import ipaddress
import json
import marshal
import os
import re
import signal
import struct
import sys
import traceback
import types
from collections.abc import Mapping, Sequence

# The protocol owns the original stdin and stdout; whatever rules print
# goes to stderr, and they read nothing.
_IN = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
_OUT = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
sys.stdout = sys.stderr


def _read_frame():
    hdr = _IN.read(4)
    if len(hdr) < 4:
        return None
    (n,) = struct.unpack(">I", hdr)
    data = _IN.read(n)
    if len(data) < n:
        return None
    return data


def _write_frame(op, payload):
    _OUT.write(struct.pack(">I", len(payload) + 1) + op + payload)


# ---------------------------------------------------------------- values


class ImmutableCaseInsensitiveDict(Mapping):
    """A read-only mapping; a key not found as given is looked up in lower case."""

    __slots__ = ("_d", "_lower", "_kids")

    def __init__(self, d):
        self._d = d
        self._lower = None
        self._kids = None  # the wrappers of the values that are containers, by key

    def _real(self, key):
        """The key as the mapping spells it, or _MISSING."""
        if key in self._d:
            return key
        if not isinstance(key, str):
            return _MISSING
        lower = self._lower
        if lower is None:
            lower = self._lower = _lower_map(self._d)
        return lower.get(key.lower(), _MISSING)

    def _find(self, key):
        k = self._real(key)
        if k is _MISSING:
            return False, None
        return True, self._d[k]

    def _value(self, k):
        """The value of real key k, a container wrapped (once: rules read
        the same ones again and again, and the values never change)."""
        v = self._d[k]
        t = type(v)
        if t is not dict and t is not list:
            return _wrap(v) if isinstance(v, (dict, list)) else v
        kids = self._kids
        if kids is None:
            kids = self._kids = {}
        w = kids.get(k)
        if w is None:
            w = kids[k] = ImmutableCaseInsensitiveDict(v) if t is dict else ImmutableList(v)
        return w

    def __getitem__(self, key):
        k = self._real(key)
        if k is _MISSING:
            raise KeyError(key)
        return self._value(k)

    def get(self, key, default=None):
        k = self._real(key)
        return default if k is _MISSING else self._value(k)

    def __contains__(self, key):
        return self._real(key) is not _MISSING

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return repr(self._d)

    def __eq__(self, other):
        if isinstance(other, ImmutableCaseInsensitiveDict):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    __hash__ = None

    def copy(self):
        return _unwrap(self._d)

    def to_dict(self):
        return _unwrap(self._d)

    def __setitem__(self, key, value):
        raise TypeError("the event is immutable")

    def __delitem__(self, key):
        raise TypeError("the event is immutable")


class ImmutableList(Sequence):
    """A read-only list."""

    __slots__ = ("_l",)

    def __init__(self, items):
        self._l = items

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ImmutableList(self._l[i])
        return _wrap(self._l[i])

    def __len__(self):
        return len(self._l)

    def __iter__(self):
        return (_wrap(x) for x in self._l)

    def __contains__(self, x):
        return x in self._l

    def __repr__(self):
        return repr(self._l)

    def __eq__(self, other):
        if isinstance(other, ImmutableList):
            return self._l == other._l
        if isinstance(other, (list, tuple)):
            return self._l == list(other)
        return NotImplemented

    __hash__ = None

    def copy(self):
        return _unwrap(self._l)

    def __add__(self, other):
        return list(self) + list(other)

    def __radd__(self, other):
        return list(other) + list(self)


_MISSING = object()
_LOWER = {}  # the keys of a dict, by their lower case, by the dict's keys


def _lower_map(d):
    """The keys of d by their lower case (the first of keys that differ
    only in case): shared by dicts with the same keys, as records of one
    kind are (most rules look up a field the event lacks, errorCode)."""
    shape = tuple(d)
    m = _LOWER.get(shape)
    if m is None:
        m = {}
        for k in shape:
            if isinstance(k, str):
                m.setdefault(k.lower(), k)
        if len(_LOWER) >= 4096:
            _LOWER.clear()
        _LOWER[shape] = m
    return m


def _wrap(v):
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if isinstance(v, dict):
        return ImmutableCaseInsensitiveDict(v)
    if isinstance(v, list):
        return ImmutableList(v)
    return v


def _unwrap(v):
    if isinstance(v, ImmutableCaseInsensitiveDict):
        v = v._d
    elif isinstance(v, ImmutableList):
        v = v._l
    if isinstance(v, Mapping):
        return {k: _unwrap(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_unwrap(x) for x in v]
    return v


def _json_default(o):
    if isinstance(o, (ImmutableCaseInsensitiveDict, ImmutableList)):
        return _unwrap(o)
    if isinstance(o, Mapping):
        return dict(o)
    if isinstance(o, (set, frozenset, tuple)) or (isinstance(o, Sequence) and not isinstance(o, str)):
        return list(o)
    if isinstance(o, (_dt.datetime, _dt.date)):
        return o.isoformat()
    return str(o)


def _dumps(o):
    return json.dumps(o, default=_json_default, separators=(",", ":"))


def _deep_get(obj, keys, default):
    for k in keys:
        if type(obj) not in _OURS and not isinstance(obj, Mapping):
            return default
        obj = obj.get(k)
        if obj is None:
            return default
    return default if obj is None else obj


def _is_list(x):
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _deep_walk(obj, keys, default, return_val):
    # Follows keys through mappings; at a list, follows every element;
    # gathers distinct leaves in order.
    found = []

    def walk(o, ks):
        if o is None:
            return
        if _is_list(o):
            for x in o:
                walk(x, ks)
            return
        if not ks:
            if o not in found:
                found.append(o)
            return
        if isinstance(o, Mapping):
            walk(o.get(ks[0]), ks[1:])

    walk(obj, list(keys))
    if not found:
        return default
    if return_val == "first":
        return found[0]
    if return_val == "last":
        return found[-1]
    return found[0] if len(found) == 1 else found


# ------------------------------------------------------------- p_ fields

_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:")


def _indicators(rec):
    """Panther's indicator fields (p_any_*) for a CloudTrail record."""
    out = {}

    def add(name, v):
        if v is None or v == "" or not isinstance(v, (str, int)):
            return
        v = str(v)
        lst = out.setdefault(name, [])
        if v not in lst:
            lst.append(v)

    def ip(v):
        if not isinstance(v, str):
            return
        try:
            ipaddress.ip_address(v)
            add("p_any_ip_addresses", v)
        except ValueError:
            if "." in v and not v.endswith("amazonaws.com") and " " not in v:
                add("p_any_domain_names", v)

    ip(rec.get("sourceIPAddress"))
    uid = rec.get("userIdentity")
    if isinstance(uid, dict):
        add("p_any_aws_account_ids", uid.get("accountId"))
        add("p_any_aws_arns", uid.get("arn"))
        add("p_any_trace_ids", uid.get("accessKeyId"))
        add("p_any_actor_ids", uid.get("principalId"))
        add("p_any_usernames", uid.get("userName"))
        issuer = _deep_get(uid, ("sessionContext", "sessionIssuer"), None)
        if isinstance(issuer, dict):
            add("p_any_aws_account_ids", issuer.get("accountId"))
            add("p_any_aws_arns", issuer.get("arn"))
            add("p_any_actor_ids", issuer.get("principalId"))
            add("p_any_usernames", issuer.get("userName"))
    add("p_any_aws_account_ids", rec.get("recipientAccountId"))
    for r in rec.get("resources") or []:
        if isinstance(r, dict):
            add("p_any_aws_arns", r.get("ARN"))
            add("p_any_aws_account_ids", r.get("accountId"))

    def scan(o, depth):
        if depth > 20:
            return
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(v, (dict, list)):
                    if k == "tags" and isinstance(v, list):
                        for t in v:
                            if isinstance(t, dict) and "key" in t:
                                add("p_any_aws_tags", f"{t.get('key')}:{t.get('value')}")
                    scan(v, depth + 1)
                    continue
                if not isinstance(v, str):
                    continue
                lk = k.lower()
                if lk in ("arn", "aws:sourcearn") or _ARN.match(v):
                    add("p_any_aws_arns", v)
                elif lk in ("instanceid", "instance-id") or lk.endswith("instanceid"):
                    if v.startswith("i-"):
                        add("p_any_aws_instance_ids", v)
                elif lk in ("accountid", "account") or lk.endswith("accountid"):
                    add("p_any_aws_account_ids", v)
                elif lk in ("publicip", "privateipaddress", "ipaddressv4", "ipaddress"):
                    ip(v)
                elif lk in ("publicdnsname", "privatednsname", "domain"):
                    add("p_any_domain_names", v)
        elif isinstance(o, list):
            for v in o:
                scan(v, depth + 1)

    for k in ("requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"):
        scan(rec.get(k), 0)
    return out


class PantherEvent(ImmutableCaseInsensitiveDict):
    """The event a rule gets: an immutable, case-insensitive mapping with
    Panther's methods and p_ fields."""

    __slots__ = ("_model", "_extra", "_done")

    def __init__(self, rec, extra=None, model=None):
        ImmutableCaseInsensitiveDict.__init__(self, rec)
        self._model = model
        self._extra = extra  # lazily added p_ fields, applied when asked
        self._done = extra is None

    def _complete(self):
        if self._done:
            return
        self._done = True
        d = dict(self._d)
        for k, v in self._extra.items():
            if k not in d:
                d[k] = v
        if d.get("p_log_type") == "AWS.CloudTrail":
            for k, v in _indicators(self._d).items():
                if k not in d:
                    d[k] = v
        self._d = d
        self._lower = None

    def _real(self, key):
        if key in self._d:  # _complete adds keys, never changes one
            return key
        if not self._done and isinstance(key, str) and key[:2].lower() == "p_":
            self._complete()
        return ImmutableCaseInsensitiveDict._real(self, key)

    def __iter__(self):
        self._complete()
        return iter(self._d)

    def __len__(self):
        self._complete()
        return len(self._d)

    def to_dict(self):
        self._complete()
        return _unwrap(self._d)

    copy = to_dict

    def deep_get(self, *keys, default=None):
        return _deep_get(self, keys, default)

    def deep_walk(self, *keys, default=None, return_val="all"):
        return _deep_walk(self, keys, default, return_val)

    def udm(self, *keys, default=None):
        m = self._model
        if len(keys) == 1 and m is not None and keys[0] in m.mappings:
            kind, how = m.mappings[keys[0]]
            if kind == "method":
                v = how(self)
            else:
                v = _json_path(self, how)
            return default if v is None else v
        return _deep_get(self.get("p_udm"), keys, default)

    def udm_path(self, key):
        m = self._model
        if m is None or key not in m.mappings:
            return None
        kind, how = m.mappings[key]
        if kind != "path":
            return how.__name__  # enrichment is keyed by the method's name
        return how.replace("$.", "", 1) if how.startswith("$.") else how

    def event_time_epoch(self):
        t = _parse_time(self.get("p_event_time"))
        return int(t.timestamp()) if t else None


_OURS = (ImmutableCaseInsensitiveDict, PantherEvent)  # mappings _deep_get need not ask Mapping about


def _parse_time(s):
    if not isinstance(s, str) or not s:
        return None
    s = s.replace("T", " ").rstrip("Z")
    head, _, frac = s.partition(".")
    try:
        t = _dt.datetime.strptime(head, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if frac:
        t = t.replace(microsecond=int((frac + "000000")[:6]))
    return t.replace(tzinfo=_dt.timezone.utc)


_PATH_STEP = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")


def _json_path(event, path):
    p = path[2:] if path.startswith("$.") else path
    cur = [event]
    multi = False
    for m in _PATH_STEP.finditer(p):
        name, idx = m.group(1), m.group(2)
        nxt = []
        for c in cur:
            if name is not None:
                if isinstance(c, Mapping):
                    v = c.get(name)
                    if v is not None:
                        nxt.append(v)
            elif idx == "*":
                multi = True
                if _is_list(c):
                    nxt.extend(c)
            elif _is_list(c) and int(idx) < len(c):
                nxt.append(c[int(idx)])
        cur = nxt
    if not cur:
        return None
    return list(cur) if multi else cur[0]


class _Broken:
    """The mappings of a data model that failed to load: using them raises."""

    def __init__(self, err):
        self.err = err

    def __contains__(self, key):
        raise RuntimeError(f"the data model did not load: {self.err}")

    def __getitem__(self, key):
        raise RuntimeError(f"the data model did not load: {self.err}")


class BrokenModel:
    def __init__(self, err):
        self.mappings = _Broken(err)
        self.raw, self.module, self.src = {}, None, None


class DataModel:
    def __init__(self, mappings, module, src=None):
        self.raw, self.module, self.src = mappings, module, src
        self.mappings = {}
        for name, (kind, how) in mappings.items():
            if kind == "method":
                fn = getattr(module, how, None) if module else None
                if fn is None:
                    raise ValueError(f"data model method {how} not found")
                self.mappings[name] = ("method", fn)
            else:
                self.mappings[name] = ("path", how)


# ----------------------------------------------------------------- cache

_cache_local = None  # a dict when the cache is local (tests), else the Go side answers
_now = [0.0]  # the current event's time (epoch seconds), for TTL checks


def _cache_call(op, key, val=None, exp=None):
    if _cache_local is not None:
        return _local_cache(op, key, val, exp)
    msg = {"op": op, "k": str(key), "now": _now[0]}
    if val is not None:
        msg["v"] = val
    if exp is not None:
        msg["exp"] = exp
    _write_frame(b"C", _dumps(msg).encode())
    while True:
        f = _read_frame()
        if f is None:
            os._exit(3)
        if f[:1] == b"R":
            ans = json.loads(f[1:])
            if "err" in ans:
                raise RuntimeError(ans["err"])
            return ans.get("v")


def _local_cache(op, key, val, exp):
    c = _cache_local
    e = c.get(key)
    if e is not None and op.endswith("_ttl") and e[1] and e[1] < _now[0]:
        e = None
    op = op.replace("_ttl", "")
    if op == "get":
        return None if e is None else e[0]
    if op == "put":
        c[key] = [val, exp]
    elif op == "incr":
        n = (e[0] if e and isinstance(e[0], int) else 0) + val
        c[key] = [n, e[1] if e else None]
        return n
    elif op in ("sadd", "srem"):
        s = set(e[0]) if e and isinstance(e[0], list) else set()
        s = s | set(val) if op == "sadd" else s - set(val)
        c[key] = [sorted(s), e[1] if e else None]
        return len(s)
    elif op == "exp":
        if e:
            e[1] = exp
    elif op == "del":
        c.pop(key, None)
    return None


def _epoch(v):
    if v is None:
        return None
    if isinstance(v, _dt.datetime):
        return v.timestamp()
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"epoch_seconds {v!r} is not a number")


def _make_caching():
    m = types.ModuleType("panther_detection_helpers.caching")
    m.__doc__ = "trailhound's key-value cache, shared by all rules of a hunt (in memory)."

    def _ttl(force):
        return "get_ttl" if force else "get"

    def get_string_set(key, force_ttl_check=False):
        v = _cache_call(_ttl(force_ttl_check), key)
        return set(v) if isinstance(v, list) else set()

    def put_string_set(key, val, epoch_seconds=None):
        if isinstance(val, str):
            val = [val]
        _cache_call("put", key, sorted({str(x) for x in val}), _epoch(epoch_seconds))

    def add_to_string_set(key, val):
        if isinstance(val, str):
            val = [val]
        return _cache_call("sadd", key, [str(x) for x in val])

    def remove_from_string_set(key, val):
        if isinstance(val, str):
            val = [val]
        return _cache_call("srem", key, [str(x) for x in val])

    def get_counter(key, force_ttl_check=False):
        v = _cache_call(_ttl(force_ttl_check), key)
        return v if isinstance(v, int) else 0

    def increment_counter(key, val=1):
        return _cache_call("incr", key, int(val))

    def reset_counter(key):
        _cache_call("del", key)

    def set_key_expiration(key, epoch_seconds):
        _cache_call("exp", key, None, _epoch(epoch_seconds))

    def get_dictionary(key, force_ttl_check=False):
        v = _cache_call(_ttl(force_ttl_check), key)
        return v if isinstance(v, dict) else {}

    def put_dictionary(key, val, epoch_seconds=None):
        if not isinstance(val, Mapping):
            raise TypeError("put_dictionary needs a mapping")
        _cache_call("put", key, json.loads(_dumps(val)), _epoch(epoch_seconds))

    def check_account_age(key):
        # true when the key names an account recorded as new (see
        # put_string_set in the account-creation rules)
        if isinstance(key, str) and key:
            return bool(get_string_set(key))
        return False

    def evaluate_threshold(key, threshold=10, expiry_seconds=3600):
        n = increment_counter(key)
        if n == 1:
            set_key_expiration(key, _now[0] + expiry_seconds)
        if n >= threshold:
            reset_counter(key)
            return True
        return False

    for f in (get_string_set, put_string_set, add_to_string_set, remove_from_string_set, get_counter,
              increment_counter, reset_counter, set_key_expiration, get_dictionary, put_dictionary,
              check_account_age, evaluate_threshold):
        setattr(m, f.__name__, f)
    return m


class _LazyModule(types.ModuleType):
    """A module imported when one of its attributes is first read."""

    def __getattr__(self, name):
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        return getattr(real, name)


def _install_modules():
    pkg = types.ModuleType("panther_detection_helpers")
    pkg.__path__ = []
    caching = _make_caching()
    pkg.caching = caching
    sys.modules["panther_detection_helpers"] = pkg
    sys.modules["panther_detection_helpers.caching"] = caching
    _STATEFUL.clear()
    _STATEFUL.update(id(x) for x in vars(caching).values() if callable(x))
    _STATEFUL.update((id(pkg), id(caching), id(_cache_call), id(_local_cache)))
    try:
        import panther_core  # noqa: F401  (a real one, when installed, serves the type hints)
    except ImportError:
        core = types.ModuleType("panther_core")
        core.__path__ = []
        core.PantherEvent = PantherEvent
        imm = types.ModuleType("panther_core.immutable")
        imm.ImmutableCaseInsensitiveDict = ImmutableCaseInsensitiveDict
        imm.ImmutableList = ImmutableList
        enr = types.ModuleType("panther_core.enriched_event")
        enr.PantherEvent = PantherEvent
        core.immutable, core.enriched_event = imm, enr
        sys.modules.update({"panther_core": core, "panther_core.immutable": imm, "panther_core.enriched_event": enr})
    if "pycountry" not in sys.modules and importlib.util.find_spec("pycountry") is not None:
        # imported when first used: a standard rule imports it and uses it
        # only on events with IP enrichment, and Debian's loads its data
        # through pkg_resources (0.07 s or more per worker)
        sys.modules["pycountry"] = _LazyModule("pycountry")
    if importlib.util.find_spec("boto3") is not None:
        # the real one, imported when first used (a third of a second: the
        # helpers import it, and use it only in functions few rules call)
        sys.modules["boto3"] = _LazyModule("boto3")
    else:
        b = types.ModuleType("boto3")

        def _no_aws(*_a, **_k):
            raise RuntimeError("trailhound runs rules without AWS access (boto3 is not available)")

        b.resource = b.client = b.Session = _no_aws
        sys.modules["boto3"] = b


# ----------------------------------------------------------- code cache

try:
    from _blake2 import blake2b as _hash  # hashlib would load OpenSSL: 6 ms
except ImportError:  # pragma: no cover - another Python
    from hashlib import sha256 as _hash

_CODE_CACHE = [None]  # the folder of compiled rules, helpers and data models (set by load)
_CODE_CACHE_ERR = [None]  # why compiled code could not be written there, first time


def _seal(code):
    """A code object's cache file: the hash of its marshalled bytes, then
    the bytes (a damaged file is found out, never run)."""
    b = marshal.dumps(code)
    return _hash(b).digest() + b


def _unseal(data):
    """The code object of a cache file, None when the file is damaged."""
    n = _hash().digest_size
    if len(data) <= n or _hash(data[n:]).digest() != data[:n]:
        return None
    try:
        code = marshal.loads(data[n:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


class _CachedLoader(importlib.machinery.SourceFileLoader):
    """Loads a rule, helper or data model file with its compiled code kept
    in trailhound's cache folder, named by a hash of the Python version, the
    file's path and its content: never stale, and nothing is written into a
    checkout (which may be read-only)."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        data = self.get_data(path)
        folder = _CODE_CACHE[0]
        if folder is None:
            return self.source_to_code(data, path)
        h = _hash(importlib.util.MAGIC_NUMBER)
        h.update(path.encode("utf-8", "surrogateescape") + b"\0")
        h.update(data)
        cpath = os.path.join(folder, h.hexdigest()[:40])
        try:
            with open(cpath, "rb") as f:
                code = _unseal(f.read())
            if code is not None:
                return code
        except OSError:
            pass
        code = self.source_to_code(data, path)
        tmp = f"{cpath}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(_seal(code))
            os.replace(tmp, cpath)
        except OSError as e:  # a cache that cannot be written costs only time (trailhound warns)
            _CODE_CACHE_ERR[0] = _CODE_CACHE_ERR[0] or f"{e.strerror or e}: {tmp}"
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return code


def _cache_code(folder, roots):
    """Compiled code of the files under roots (helper folders) is cached in
    folder, as is that of rules and data models (_import)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return
    _CODE_CACHE[0] = folder
    roots = tuple(os.path.abspath(r) for r in roots)
    details = (
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        (_CachedLoader, importlib.machinery.SOURCE_SUFFIXES),
        (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
    )

    def under(path):
        p = os.path.abspath(path or ".")
        return any(p == r or p.startswith(r + os.sep) for r in roots)

    def hook(path):
        if under(path) and os.path.isdir(path):
            return importlib.machinery.FileFinder(os.path.abspath(path), *details)
        raise ImportError("not a helper folder")

    sys.path_hooks.insert(0, hook)
    for k in list(sys.path_importer_cache):
        if under(k):
            del sys.path_importer_cache[k]


# ------------------------------------------------------------ prefilter

# Fields a prefilter may test, spelled exactly as CloudTrail spells them
# (the event's key lookup falls back to lower case; trailhound's does not,
# so a rule spelling a field otherwise is not prefiltered on it), and the
# p_ fields trailhound never adds (a raw record rarely has them).
_FIELDS = {
    "eventSource", "eventName", "eventType", "eventCategory", "errorCode", "errorMessage", "awsRegion",
    "sourceIPAddress", "userAgent", "recipientAccountId", "eventVersion", "vpcEndpointId", "managementEvent",
    "userIdentity.type", "userIdentity.arn", "userIdentity.accountId", "userIdentity.principalId",
    "userIdentity.accessKeyId", "userIdentity.userName", "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.type", "userIdentity.sessionContext.sessionIssuer.userName",
    "userIdentity.sessionContext.sessionIssuer.arn", "responseElements.ConsoleLogin", "additionalEventData.MFAUsed",
    "requestParameters.key", "p_enrichment", "p_udm",
}
_WRITES = re.compile(r"^(put_|add_to_|remove_from_|increment_|reset_|set_key_|evaluate_threshold)")
_MUTATORS = ("add", "update", "append", "extend", "remove", "discard", "clear", "pop", "insert", "setdefault", "popitem")
_EMPTY = object()  # a field read with an empty container as its default
_MAX_DEPTH = 4  # calls followed into other functions

# A constraint is None (bottom: the code is never reached) or a dict from a
# field to (exact values, patterns): the field's value is one of the exact
# values or matches one of the patterns, ("p", s): starts with s, ("c", s):
# contains s, ("e", s): ends with s (or with s and a newline), ("E", s):
# the same ignoring case as re.IGNORECASE does (s is ASCII, in lower
# case), ("i", ""): an IP address, ("n", ""): missing or a false value
# (None, "", 0, False, [], {}); ("p", "") means the field has a value. A
# field not in the dict may have any value.
_HAS = frozenset([("p", "")])


def _is_ip(x):
    try:
        ipaddress.ip_address(x)
        return True
    except (ValueError, TypeError):
        return False


def _ends(x, s, fold):
    """Whether x ends with s, or with s and a newline (what `s$` matches),
    ignoring case as re.IGNORECASE does when fold."""
    return re.search(("(?i)" if fold else "") + re.escape(s) + r"\n?\Z", x) is not None


def _pmatch(x, pats):
    return any(x.startswith(s) if k == "p" else s in x if k == "c" else _is_ip(x) if k == "i"
               else _ends(x, s, k == "E") if k in ("e", "E") else x == "" for k, s in pats)


def _selectivity(pats):
    """How much a set of patterns narrows a field (more is narrower): its
    shortest string, suffixes and prefixes before substrings."""
    return min((len(s) + (0.5 if k != "c" else 0) for k, s in pats), default=0)


_IP = frozenset([("i", "")])  # the field's value is an IP address
_NONE = frozenset([("n", "")])  # the field is missing or has a false value (Go checks it as Python would)


class _Sfx:
    """A pseudo-field: a string that ends the string value of field (what
    value.split(sep)[-1] gives). A test of its end is a test of the field's
    end; a substring of it is a substring of the field."""

    __slots__ = ("field",)

    def __init__(self, field):
        self.field = field

    def __eq__(self, other):
        return isinstance(other, _Sfx) and other.field == self.field

    def __hash__(self):
        return hash(("sfx", self.field))


class _Alts:
    """What a variable holds when it depends on the path taken: a list of
    (constraint under which it holds, field read or None for unknown)."""

    __slots__ = ("alts",)

    def __init__(self, alts):
        self.alts = alts


_MAX_ALTS = 8  # alternatives a variable may have
_MAX_TAILS = 64  # endings a regular expression may have


def _regex_tails(pattern):
    """The strings every match of a regular expression anchored at the end
    ($ or \\Z) ends with (before the newline $ also allows), and whether
    they are compared ignoring case: (set, fold), or None when not known.
    With fold, the endings are ASCII in lower case."""
    try:
        import re._parser as sre_parse  # Python 3.11+
        import re._constants as sre_c
    except ImportError:  # pragma: no cover - older Pythons
        import sre_parse  # noqa: F401
        import sre_constants as sre_c
    try:
        flags = pattern.flags if isinstance(pattern, re.Pattern) else 0
        src = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        if not isinstance(src, str):
            return None
        items = sre_parse.parse(src, flags)
    except Exception:  # noqa: BLE001 - not known then
        return None
    flags |= items.state.flags
    if flags & re.MULTILINE:
        return None
    fold = bool(flags & re.IGNORECASE)

    def finite(op, av):
        """The strings one item matches, when few."""
        if op is sre_c.LITERAL:
            return {chr(av)}
        if op is sre_c.IN:
            out = set()
            for o, a in av:
                if o is sre_c.LITERAL:
                    out.add(chr(a))
                elif o is sre_c.RANGE and a[1] - a[0] < 32:
                    out.update(chr(c) for c in range(a[0], a[1] + 1))
                else:
                    return None
            return out
        if op is sre_c.SUBPATTERN:
            if av[1] or av[2]:  # local flags
                return None
            return seq(av[3])
        if op is sre_c.BRANCH:
            out = set()
            for alt in av[1]:
                x = seq(alt)
                if x is None:
                    return None
                out |= x
            return out if len(out) <= _MAX_TAILS else None
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT) and av[1] <= 2:
            x = seq(av[2])
            if x is None:
                return None
            out, cur = set(), {""}
            for n in range(av[1] + 1):
                if n >= av[0]:
                    out |= cur
                cur = {a + b for a in cur for b in x}
                if len(cur) > _MAX_TAILS:
                    return None
            return out
        return None

    def seq(items):
        out = {""}
        for op, av in items:
            x = finite(op, av)
            if x is None:
                return None
            out = {a + b for a in out for b in x}
            if len(out) > _MAX_TAILS:
                return None
        return out

    def tails(items):
        items = list(items)
        if len(items) == 1 and items[0][0] is sre_c.BRANCH:
            out = set()
            for alt in items[0][1][1]:
                t = tails(alt)
                if t is None:
                    return None
                out |= t
            return out
        if len(items) == 1 and items[0][0] is sre_c.SUBPATTERN and not items[0][1][1] and not items[0][1][2]:
            return tails(items[0][1][3])
        if not items or items[-1][0] is not sre_c.AT or items[-1][1] not in (sre_c.AT_END, sre_c.AT_END_STRING):
            return None
        out = {""}
        for op, av in reversed(items[:-1]):
            x = finite(op, av)
            if x is None:
                break
            nxt = {a + b for a in x for b in out}
            if len(nxt) > _MAX_TAILS:
                break
            out = nxt
        return out

    t = tails(items)
    if t is None or "" in t:
        return None
    if fold:
        if not all(x.isascii() for x in t):
            return None
        t = {x.lower() for x in t}
    return t, fold


def _fmeet(a, b):
    ea, pa = a
    eb, pb = b
    if pa == _NONE or pb == _NONE:
        if a == b:
            return a
        other = b if pa == _NONE else a
        if not other[1]:
            return (frozenset(x for x in other[0] if x == ""), frozenset())
        if ("n", "") in other[1]:
            return (frozenset(), _NONE)
        return (frozenset(), frozenset())  # empty and a value: never
    if not pa and not pb:
        return (ea & eb, frozenset())
    if not pa:
        return (frozenset(x for x in ea if x in eb or _pmatch(x, pb)), frozenset())
    if not pb:
        return _fmeet(b, a)
    if pa == _HAS:
        return b
    if pb == _HAS:
        return a
    # both are implied: keep the narrower (a suffix over a "/" it contains)
    return b if _selectivity(pb) > _selectivity(pa) else a


def _meet(a, b):
    if a is None or b is None:
        return None
    out = dict(a)
    for k, v in b.items():
        out[k] = _fmeet(out[k], v) if k in out else v
        if not out[k][0] and not out[k][1]:
            return None
    return out


def _join(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return {k: (a[k][0] | b[k][0], a[k][1] | b[k][1]) for k in a.keys() & b.keys()}


def _strs(v):
    # exactly str: a subclass may compare (__eq__, __hash__) otherwise
    if type(v) is str:
        return frozenset([v])
    if type(v) in (set, frozenset, list, tuple) and all(type(x) is str for x in v):
        return frozenset(v)
    if isinstance(v, type({}.keys())) and all(type(x) is str for x in v):
        return frozenset(v)
    return None


def _literal_run(pattern):
    """The longest run of literal characters every match of a regular
    expression contains ("" when none is certain)."""
    try:
        import re._parser as sre_parse  # Python 3.11+
    except ImportError:  # pragma: no cover - older Pythons
        import sre_parse  # noqa: F401
    try:
        flags = pattern.flags if isinstance(pattern, re.Pattern) else 0
        src = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        if flags & re.IGNORECASE or not isinstance(src, str):
            return ""
        items = sre_parse.parse(src, flags)
    except Exception:  # noqa: BLE001 - no literal then
        return ""
    if items.state.flags & re.IGNORECASE:
        return ""
    best, cur = "", []
    for op, av in items:
        if op is sre_parse.LITERAL:
            cur.append(chr(av))
            continue
        if len(cur) > len(best):
            best = "".join(cur)
        cur = []
    if len(cur) > len(best):
        best = "".join(cur)
    return best


_module_pfs = {}
_module_srcs = {}  # module name -> (its source file, the file's sha256 or "-" when unreadable)

# The source files an analysis under way read besides the rule's (path ->
# sha256): trailhound keeps them with the cached analysis, which holds only
# while they are unchanged (they may be anywhere: helpers, PYTHONPATH,
# site-packages). None when no analysis is under way.
_PF_DEPS = [None]

try:
    from _sha2 import sha256 as _sha256  # hashlib would load OpenSSL: 6 ms
except ImportError:
    try:
        from _sha256 import sha256 as _sha256
    except ImportError:  # pragma: no cover - another Python
        from hashlib import sha256 as _sha256


def _function_pf(fn):
    """The analyser of the module a function object comes from, and its
    FunctionDef (None when its source is not at hand)."""
    import inspect

    mod = sys.modules.get(getattr(fn, "__module__", None) or "")
    if mod is None or not isinstance(fn, types.FunctionType) or "." in fn.__qualname__:
        return None, None
    key = mod.__name__
    if key not in _module_pfs:
        path, digest, pf = None, "-", None
        try:
            path = inspect.getsourcefile(mod)
            with open(path, "rb") as f:
                src = f.read()
            digest = _sha256(src).hexdigest()
            pf = _Prefilter(ast.parse(src), mod)
        except Exception:  # noqa: BLE001 - not analysable
            pass
        _module_pfs[key] = pf
        _module_srcs[key] = (path, digest)
    # the rule's own module is registered by prefilter() itself: its file
    # is the one the analysis is keyed by, not a dependency
    path, digest = _module_srcs.get(key, (None, "-"))
    if _PF_DEPS[0] is not None and path:
        _PF_DEPS[0][os.path.abspath(path)] = digest
    pf = _module_pfs[key]
    if pf is None:
        return None, None
    return pf, pf.funcs.get(fn.__name__)


def _walk(node):
    """ast.walk(node) as a list, made once per node: the analysis walks the
    same functions again and again (cleared after loading)."""
    out = _WALKED.get(node)
    if out is None:
        out = _WALKED[node] = list(ast.walk(node))
    return out


_WALKED = {}


class _Prefilter:
    """Finds what a rule's event must hold for rule() to return a true value
    or write to the cache: a necessary condition on CloudTrail fields. Only
    proven facts are used; anything not understood constrains nothing."""

    def __init__(self, tree, module, model_fns=None):
        self.module = module
        self.model_fns = model_fns or {}  # udm name -> ("path", field) or ("fn", FunctionDef, _Prefilter)
        self.depth = 0
        self.busy = set()
        self.bound = {}  # a comprehension's variable -> the constant it holds in one expansion
        self.rets = None  # while collecting what a function returns: (constraint, field read or None)
        self.end = None
        assigned = {}
        self.mutated = set()
        for node in _walk(tree):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                self.mutated.update(node.names)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr in _MUTATORS:
                self.mutated.add(node.value.id)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name):
                self.mutated.add(node.target.id)
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Name):
                self.mutated.add(node.value.id)
        for node in tree.body:
            names = []
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [(a.asname or a.name).split(".")[0] for a in node.names]
            for n in names:
                assigned[n] = assigned.get(n, 0) + 1
        self.twice = {n for n, c in assigned.items() if c > 1}
        self.module_names = set(assigned)
        self.shadowed = {n for n in assigned if n in ("all", "any")}
        self.funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        self.globals_written = set()
        for fn in self.funcs.values():
            for x in _walk(fn):
                if isinstance(x, ast.Global):
                    self.globals_written.update(x.names)
        self.writers = {name for name, fn in self.funcs.items() if any(self._writes_direct(x) for x in _walk(fn))}
        changed = True
        while changed:  # functions calling writers write
            changed = False
            for name, fn in self.funcs.items():
                if name not in self.writers and any(
                    isinstance(x, ast.Call) and isinstance(x.func, ast.Name) and x.func.id in self.writers
                    for x in _walk(fn)
                ):
                    self.writers.add(name)
                    changed = True

    def _writes_direct(self, node):
        """Whether node writes state that outlives the event: the cache, or a
        module-level object mutated from a function."""
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if _WRITES.match(name):
                return True
            if isinstance(f, ast.Attribute) and f.attr in _MUTATORS and isinstance(f.value, ast.Name) and \
                    f.value.id in self.globals_written | self.module_names:
                return True
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id in self.globals_written:
            return True
        if isinstance(node, (ast.Assign, ast.AugAssign)):  # X[k] = v on a module-level X
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in self.module_names:
                    return True
        return False

    def _writes(self, node):
        for x in _walk(node):
            if self._writes_direct(x):
                return True
            if isinstance(x, ast.Call) and isinstance(x.func, ast.Name):
                if x.func.id in self.writers:
                    return True
                obj = self._object(x.func)
                if isinstance(obj, types.FunctionType) and obj.__module__ != getattr(self.module, "__name__", None):
                    pf, _ = _function_pf(obj)
                    if pf is None or obj.__name__ in pf.writers:
                        return True
        return False

    def _const(self, node):
        """The string or strings a constant expression holds (literals,
        module-level constants, locals assigned a literal once)."""
        if isinstance(node, ast.Name) and node.id in getattr(self, "local_consts", {}):
            return self.local_consts[node.id]
        if isinstance(node, ast.Constant):
            return _strs(node.value) if isinstance(node.value, str) else None
        if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
            out = set()
            for e in node.elts:
                v = self._const(e)
                if v is None:
                    return None
                out |= v
            return frozenset(out)
        if isinstance(node, ast.Call) and not node.keywords:
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("set", "frozenset", "list", "tuple") and len(node.args) == 1 and f.id not in self.twice:
                return self._const(node.args[0])
            if isinstance(f, ast.Attribute) and f.attr == "keys" and not node.args:
                obj = self._object(f.value)
                if isinstance(obj, dict) and all(type(k) is str for k in obj):
                    return frozenset(obj)
            return None
        obj = self._object(node)
        return _strs(obj) if obj is not None and not isinstance(obj, types.ModuleType) else None

    def _object(self, node):
        """The module-level object a name (or module attribute) holds."""
        if isinstance(node, ast.Name):
            n = node.id
            if n in self.bound:
                return self.bound[n]
            if n in self.twice or n in self.mutated or n in getattr(self, "locals", ()) or self.module is None:
                return None
            return getattr(self.module, n, None)
        if isinstance(node, ast.Attribute):
            base = self._object(node.value)
            if isinstance(base, types.ModuleType):
                return getattr(base, node.attr, None)
        return None

    def _default(self, node):
        if node is None:
            return True, None
        if isinstance(node, ast.Constant):
            return True, node.value
        if isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set)) and not getattr(node, "elts", None) and not getattr(node, "keys", None):
            return True, _EMPTY
        return False, None

    def _field(self, node, aliases):
        """The field an expression reads, and the value it yields when the
        field is absent; a pseudo-field ("fn", ...) for the result of a
        function of the event (a data model method, a helper)."""
        if isinstance(node, ast.Name):
            a = aliases.get(node.id)
            return None if isinstance(a, _Alts) else a
        inner = _suffix_of(node)
        if inner is not None:
            return _sfx(self._field(inner, aliases))
        ev = self.event
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == ev:
            s = node.slice
            if isinstance(s, ast.Constant) and s.value in _FIELDS:
                return s.value, None  # a missing key raises: no match
            return None
        if not isinstance(node, ast.Call):
            return None
        f, args = node.func, list(node.args)
        kw = {k.arg: k.value for k in node.keywords}
        dnode = None
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == ev and f.attr in ("get", "udm"):
            if f.attr == "udm":
                if len(args) != 1 or kw or not isinstance(args[0], ast.Constant):
                    return None
                m = self.model_fns.get(args[0].value)
                if m is None:
                    return None
                if m[0] == "path":
                    return m[1], None
                return ("fn", m[1], m[2]), None
            if kw or not 1 <= len(args) <= 2:
                return None
            if isinstance(args[0], ast.Constant) and isinstance(args[0].value, str) and "." in args[0].value:
                return None  # a key with a dot in it, not a path (the prefilter's fields are paths)
            dnode = args[1] if len(args) == 2 else None
            keys = args[:1]
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == ev and f.attr == "deep_get":
            if not args or set(kw) - {"default"}:
                return None
            dnode, keys = kw.get("default"), args
        elif isinstance(f, ast.Name) and f.id == "deep_get" and args and isinstance(args[0], ast.Name) and args[0].id == ev:
            if len(args) < 2 or set(kw) - {"default"}:
                return None
            dnode, keys = kw.get("default"), args[1:]
        else:
            return self._call(node)
        if not all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in keys):
            return None
        field = ".".join(k.value for k in keys)
        ok, default = self._default(dnode)
        if field not in _FIELDS or not ok:
            return None
        return field, default

    def _call(self, node):
        """A call of a module-level function with the event as its first
        argument: a pseudo-field ("fn", FunctionDef, analyser) whose truth
        (and value) the function's analysis gives."""
        if self.depth >= _MAX_DEPTH:
            return None
        ev = self.event
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "event"), None)
        if not (isinstance(first, ast.Name) and first.id == ev):
            return None
        fn = self._object(node.func)
        if not isinstance(fn, types.FunctionType):
            return None
        pf, fdef = _function_pf(fn)
        if fdef is None or fn.__name__ in pf.writers or not fdef.args.args:
            return None
        if node.keywords and not (len(node.args) == 0 and fdef.args.args[0].arg == "event"):
            return None
        return ("fn", fdef, pf), None

    def cond(self, node, positive, aliases):
        """The constraint under which node is truthy (positive) or falsy."""
        alt = _alt_name(node, aliases) if aliases and any(type(v) is _Alts for v in aliases.values()) else None
        if alt is not None:  # a variable whose value depends on the path: each value under its constraint
            out = None
            for g, v in aliases[alt].alts:
                a2 = dict(aliases)
                if v is None:
                    a2.pop(alt, None)
                else:
                    a2[alt] = v
                out = _join(out, _meet(g, self.cond(node, positive, a2)))
            return out
        if isinstance(node, ast.BoolOp):
            parts = [self.cond(v, positive, aliases) for v in node.values]
            conj = isinstance(node.op, ast.And) == positive
            out = parts[0]
            for p in parts[1:]:
                out = _meet(out, p) if conj else _join(out, p)
            return out
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("all", "any")
                and node.func.id not in self.shadowed and len(node.args) == 1 and not node.keywords
                and isinstance(node.args[0], (ast.List, ast.Tuple))
                and not any(isinstance(e, ast.Starred) for e in node.args[0].elts) and node.args[0].elts):
            # all([a, b]) is a and b; any([a, b]) is a or b
            op = ast.And() if node.func.id == "all" else ast.Or()
            return self.cond(ast.BoolOp(op=op, values=node.args[0].elts), positive, aliases)
        if (positive and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("all", "any")
                and node.func.id not in self.shadowed and len(node.args) == 1 and not node.keywords
                and isinstance(node.args[0], (ast.GeneratorExp, ast.ListComp))):
            return self._over_constants(node.func.id == "all", node.args[0], aliases)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self.cond(node.operand, not positive, aliases)
        if isinstance(node, ast.Constant):
            return {} if bool(node.value) == positive else None
        if not positive:
            fd = self._field(node, aliases)
            if fd is not None and isinstance(fd[0], str) and (fd[1] is None or fd[1] is _EMPTY or not fd[1]):
                return {fd[0]: (frozenset(), _NONE)}  # a false field: missing, or a false value
            if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.NotEq, ast.NotIn, ast.IsNot)):
                neg = {ast.NotEq: ast.Eq, ast.NotIn: ast.In, ast.IsNot: ast.Is}[type(node.ops[0])]()
                return self.cond(ast.Compare(left=node.left, ops=[neg], comparators=node.comparators), True, aliases)
            return {}
        # positive from here on
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and len(node.args) == 1 and not node.keywords:
            attr = node.func.attr
            if attr in ("startswith", "endswith"):
                fd = self._field(node.func.value, aliases)
                pre = self._const(node.args[0])
                if fd is None or pre is None:
                    return {}
                return self._strtest(fd, "start" if attr == "startswith" else "end", pre)
            if attr in ("search", "match", "fullmatch"):
                pat = self._object(node.func.value)
                return self._regex(pat, node.args[0], aliases)
        if isinstance(node, ast.Call) and len(node.args) == 2 and not node.keywords:
            fn = self._object(node.func)
            if fn in (re.search, re.match, re.fullmatch):
                pat = self._const(node.args[0])
                if pat is not None and len(pat) == 1:
                    return self._regex(next(iter(pat)), node.args[1], aliases)
                return {}
        fd = self._field(node, aliases)
        if fd is not None:  # a value that is truthy: the field has one
            if fd[1] is None or fd[1] is _EMPTY or not fd[1]:
                return self._has(fd[0])
            return {}
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            op, left, right = node.ops[0], node.left, node.comparators[0]
            if isinstance(op, (ast.Is, ast.IsNot)):
                fd = self._field(left, aliases)
                if fd is not None and isinstance(right, ast.Constant) and right.value is None and isinstance(op, ast.IsNot) and fd[1] is None:
                    if isinstance(fd[0], str):
                        return self._has(fd[0])  # "is not None": the field has a value
                return {}
            if not isinstance(op, (ast.Eq, ast.In)):
                return {}
            fd, vals = self._field(left, aliases), None
            if fd is not None:
                vals = self._const(right)
            elif isinstance(op, ast.Eq):
                fd = self._field(right, aliases)
                if fd is not None:
                    vals = self._const(left)
            elif isinstance(op, ast.In):  # "literal" in field: a substring
                fd = self._field(right, aliases)
                sub = self._const(left)
                if fd is not None and sub is not None and len(sub) == 1 and isinstance(fd[0], (str, _Sfx)) and fd[1] in (None, "", _EMPTY):
                    return self._strtest(fd, "contains", sub)
                return {}
            if fd is None or vals is None:
                return {}
            if isinstance(op, ast.Eq) and len(vals) != 1:
                return {}  # a string against a collection
            field, default = fd
            if default is not None and default is not _EMPTY and default in vals:
                return {}  # an absent field passes too
            if isinstance(field, tuple):  # a function's result
                return self._has(field) if all(vals) else {}
            if isinstance(field, _Sfx):
                return self._strtest(fd, "eq", vals)
            return {field: (vals, frozenset())}
        return {}

    def _regex(self, pat, arg, aliases):
        fd = self._field(arg, aliases)
        if fd is None or not isinstance(pat, (str, re.Pattern)):
            return {}
        tails = _regex_tails(pat)
        if tails is not None:  # anchored at the end: the value ends with one of the tails
            return self._strtest(fd, "iend" if tails[1] else "end", tails[0])
        lit = _literal_run(pat)
        if not lit:
            return {}
        return self._strtest(fd, "contains", {lit})

    def _strtest(self, fd, kind, strs):
        """The constraint under which the value fd reads passes a string
        test against one of strs: kind start, end, iend (ignoring case, strs
        in lower case), contains or eq. The result of a helper is followed
        into what the helper returns."""
        field, d = fd
        if isinstance(field, tuple):
            if field[0] != "fn":
                return {}
            _, fn, pf = field
            out = None
            for g, v in pf.returns(fn, self.depth + 1):
                out = _join(out, _meet(g, {} if v is None else pf._strtest(v, kind, strs)))
            return {} if out is None else out  # "never" through a call is not trusted
        view = isinstance(field, _Sfx)
        base = field.field if view else field
        if not isinstance(base, str) or not strs:
            return {}
        # an absent field gives the default: a string default that passes
        # (for a suffix of the field: whose end or substrings pass) proves nothing
        if isinstance(d, str):
            if kind in ("end", "iend") and any(_ends(d, x, kind == "iend") for x in strs):
                return {}
            if (kind == "contains" or view) and any(x in d for x in strs):
                return {}
            if kind == "start" and any(d.startswith(x) for x in strs):
                return {}
            if kind == "eq" and d in strs:
                return {}
        if kind == "eq" and not view:
            return {base: (frozenset(strs), frozenset())}
        k = {"start": "c" if view else "p", "end": "e", "iend": "E", "contains": "c", "eq": "e"}[kind]
        return {base: (frozenset(), frozenset((k, x) for x in strs))}

    def _over_constants(self, conj, comp, aliases):
        """all(...) (conj) or any(...) over a comprehension whose variable
        runs over a module-level constant list: the test for each item."""
        g = comp.generators[0] if len(comp.generators) == 1 else None
        if g is None or g.ifs or g.is_async or not isinstance(g.target, ast.Name):
            return {}
        seq = self._object(g.iter)
        if not isinstance(seq, (list, tuple)) or not 0 < len(seq) <= _MAX_TAILS:
            return {}
        name = g.target.id
        a2 = dict(aliases)
        a2.pop(name, None)
        had, old = name in self.bound, self.bound.get(name)
        out = None
        try:
            for i, o in enumerate(seq):
                self.bound[name] = o
                c = self.cond(comp.elt, True, a2)
                out = c if i == 0 else (_meet(out, c) if conj else _join(out, c))
        finally:
            if had:
                self.bound[name] = old
            else:
                self.bound.pop(name, None)
        return out

    def _has(self, field):
        if isinstance(field, tuple):  # a function of the event returning a value
            _, fn, pf = field
            return pf.truthy(fn, self.depth + 1)
        if isinstance(field, _Sfx):  # a non-empty end of a string: the string is not empty
            field = field.field
        return {field: (frozenset(), _HAS)}

    def _save(self):
        return (getattr(self, "event", None), getattr(self, "results", None), getattr(self, "locals", set()),
                getattr(self, "fn_node", None), self.depth, getattr(self, "local_consts", {}), self.rets, self.bound,
                self.end)

    def _restore(self, saved):
        (self.event, self.results, self.locals, self.fn_node, self.depth, self.local_consts, self.rets, self.bound,
         self.end) = saved

    def truthy(self, fn, depth=0):
        """The constraint under which fn(event) returns a true value."""
        if fn.name in self.busy or depth > _MAX_DEPTH:
            return {}
        saved = self._save()
        self.busy.add(fn.name)
        self.depth, self.rets, self.bound = depth, None, {}
        try:
            c = self.analyze(fn)
        finally:
            self.busy.discard(fn.name)
            self._restore(saved)
        return {} if c is None else c  # "never" through a call is not trusted

    def returns(self, fn, depth=0):
        """What fn(event) returns: a list of (constraint, field read or None
        for unknown), one per way out of the function."""
        got = _RETURNS.get(fn)
        if got is not None:
            return got
        if fn.name in self.busy or depth > _MAX_DEPTH:
            return [({}, None)]
        saved = self._save()
        self.busy.add(fn.name)
        self.depth, self.rets, self.bound = depth, [], {}
        try:
            self.analyze(fn)
            rets = self.rets
            if self.end is not None:  # falling off the end returns None
                rets.append((self.end, None))
        finally:
            self.busy.discard(fn.name)
            self._restore(saved)
        if len(rets) > _MAX_ALTS:
            end = None
            for g, _ in rets:
                end = _join(end, g)
            rets = [] if end is None else [(end, None)]
        _RETURNS[fn] = rets
        return rets

    def _value(self, node, aliases, path):
        """What an expression holds under path: a list of (constraint, field
        read or None for unknown)."""
        if path is None:
            return []
        if isinstance(node, ast.Name) and isinstance(aliases.get(node.id), _Alts):
            return [(m, v) for g, v in aliases[node.id].alts if (m := _meet(path, g)) is not None]
        if isinstance(node, ast.IfExp):
            return (self._value(node.body, aliases, _meet(path, self.cond(node.test, True, aliases)))
                    + self._value(node.orelse, aliases, _meet(path, self.cond(node.test, False, aliases))))
        inner = _suffix_of(node)
        if inner is not None:
            return [(g, _sfx(v)) for g, v in self._value(inner, aliases, path)]
        return [(path, self._field(node, aliases))]

    def _aliasable(self, name):
        """Whether a local of the function being analysed can be followed
        (not rebound from elsewhere: global or nonlocal)."""
        fn = getattr(self, "fn_node", None)
        out = _FREE.get(fn)
        if out is None:
            out = _FREE[fn] = {n for x in _walk(fn) if isinstance(x, (ast.Global, ast.Nonlocal)) for n in x.names} if fn else set()
        return name not in out

    def _alias(self, aliases, name, vals):
        """Records what name holds after an assignment (vals: _value's)."""
        aliases.pop(name, None)
        if not self._aliasable(name) or not any(v is not None for _, v in vals):
            return
        if len(vals) == 1:
            aliases[name] = vals[0][1]
        elif len(vals) <= _MAX_ALTS:
            aliases[name] = _Alts(vals)

    def analyze(self, fn):
        """The constraint under which fn(event) returns a true value (None:
        never); self.end is the constraint of falling off its end."""
        self.event = fn.args.args[0].arg if fn.args.args else "event"
        self.fn_node = fn
        self.locals = {x.id for x in _walk(fn) if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Store)}
        self.locals |= {a.arg for a in fn.args.args + fn.args.kwonlyargs}
        self.results = None  # join of the constraints that need the event
        self.local_consts = {}
        for st in _walk(fn):
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                name = st.targets[0].id
                if self._assigned_once(name) and name not in self.mutated_locals(fn):
                    v = self._const(st.value) if isinstance(st.value, (ast.Constant, ast.List, ast.Set, ast.Tuple)) else None
                    if v is not None:
                        self.local_consts[name] = v
        saved, _WALRUS[0] = _WALRUS[0], any(isinstance(x, ast.NamedExpr) for x in _walk(fn))
        try:
            self.end = self._block(fn.body, {}, {})
        finally:
            _WALRUS[0] = saved
        return self.results

    def _need(self, c):
        if c is not None:
            self.results = c if self.results is None else _join(self.results, c)

    def _forget(self, stmts, aliases):
        for st in stmts:
            for t in _walk(st):
                if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store):
                    aliases.pop(t.id, None)

    def _block(self, stmts, path, aliases):
        """Walks statements under path; returns the path after them (None:
        they always return)."""
        for st in stmts:
            if path is None:
                return None
            if isinstance(st, ast.Return):
                if st.value is None:
                    if self.rets is not None:
                        self.rets.append((path, None))
                    return None
                _forget_walrus(st.value, aliases)
                if self._writes(st.value):
                    self._need(path)
                else:
                    self._need(_meet(path, self.cond(st.value, True, aliases)))
                if self.rets is not None:
                    self.rets.extend(self._value(st.value, aliases, path))
                return None
            if isinstance(st, ast.Raise):
                return None
            if isinstance(st, ast.If):
                if self._writes(st.test):
                    self._need(path)
                _forget_walrus(st.test, aliases)
                p1 = _meet(path, self.cond(st.test, True, aliases))
                p2 = _meet(path, self.cond(st.test, False, aliases))
                a1, a2 = dict(aliases), dict(aliases)
                e1 = self._block(st.body, p1, a1) if p1 is not None else None
                e2 = self._block(st.orelse, p2, a2) if p2 is not None else None
                path = _join(e1, e2)
                # a variable assigned in a branch holds, after the if, the
                # value of the branch taken, under that branch's constraint
                for n in _stored(st.body + st.orelse):
                    vals = []
                    for e, a in ((e1, a1), (e2, a2)):
                        if e is None:
                            continue
                        v = a.get(n)
                        if isinstance(v, _Alts):
                            vals += [(m, x) for g, x in v.alts if (m := _meet(e, g)) is not None]
                        else:
                            vals.append((e, v))
                    self._alias(aliases, n, vals)
                continue
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                name = st.targets[0].id
                if self._writes(st):
                    self._need(path)
                _forget_walrus(st.value, aliases)
                self._alias(aliases, name, self._value(st.value, aliases, path))
                continue
            if isinstance(st, (ast.Expr, ast.Pass, ast.Assert, ast.AnnAssign, ast.AugAssign, ast.Assign, ast.Delete,
                               ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
                if self._writes(st):
                    self._need(path)
                self._forget([st], aliases)
                continue
            if isinstance(st, (ast.For, ast.AsyncFor)):
                if self._writes(st.iter):
                    self._need(path)
                inner = path
                it = st.iter
                if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("keys", "values", "items") and not it.args:
                    it = it.func.value
                fd = self._field(it, aliases)
                if fd is not None and isinstance(fd[0], str) and (fd[1] is None or fd[1] is _EMPTY):
                    inner = _meet(path, self._has(fd[0]))  # the body runs only over a value
                self._forget([st], aliases)
                if inner is not None:
                    self._block(st.body, inner, dict(aliases))
                self._block(st.orelse, path, dict(aliases))
                continue
            if isinstance(st, ast.Try):
                self._forget([st], aliases)
                body = st.body
                inner = path
                first = body[0].value if body and isinstance(body[0], (ast.Expr, ast.Assign)) else None
                if isinstance(first, ast.Call) and len(first.args) == 1 and not first.keywords and \
                        self._object(first.func) in (ipaddress.ip_address, ipaddress.IPv4Address, ipaddress.IPv6Address):
                    fd = self._field(first.args[0], aliases)
                    d = fd[1] if fd is not None else None
                    if fd is not None and isinstance(fd[0], str) and not (isinstance(d, (str, int)) and d is not _EMPTY and _is_ip(d)):
                        # past the call, the field holds an IP address (else it raised)
                        inner = _meet(path, {fd[0]: (frozenset(), _IP)})
                        body = body[1:]
                ends = [self._block(body + st.orelse, inner, dict(aliases)) if inner is not None else None]
                for h in st.handlers:
                    ends.append(self._block(h.body, path, dict(aliases)))
                end = None
                for e in ends:
                    end = _join(end, e)
                if st.finalbody:
                    self._block(st.finalbody, path, dict(aliases))
                path = end
                continue
            if isinstance(st, (ast.With, ast.AsyncWith)):
                if any(self._writes(i) for i in st.items):
                    self._need(path)
                self._forget([st], aliases)
                path = self._block(st.body, path, dict(aliases))
                continue
            # while, match, nested definitions: a return inside counts
            # under the current path; nothing is learnt
            self._forget([st], aliases)
            for sub in _walk(st):
                if isinstance(sub, ast.Return) and sub.value is not None:
                    self._need(path if self._writes(sub.value) else _meet(path, self.cond(sub.value, True, {})))
                if isinstance(sub, ast.Return) and self.rets is not None:
                    self.rets.append((path, None))
            if self._writes(st):
                self._need(path)
        return path

    def mutated_locals(self, fn):
        out = _MUTATED.get(fn)
        if out is not None:
            return out
        out = _MUTATED[fn] = set()
        for x in _walk(fn):
            if isinstance(x, ast.Attribute) and isinstance(x.value, ast.Name) and x.attr in _MUTATORS:
                out.add(x.value.id)
            elif isinstance(x, ast.AugAssign) and isinstance(x.target, ast.Name):
                out.add(x.target.id)
            elif isinstance(x, ast.Subscript) and isinstance(x.ctx, (ast.Store, ast.Del)) and isinstance(x.value, ast.Name):
                out.add(x.value.id)
        return out

    def _assigned_once(self, name):
        counts = _STORES.get(self.fn_node)
        if counts is None:
            counts = _STORES[self.fn_node] = {}
            for x in _walk(self.fn_node):
                if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Store):
                    counts[x.id] = counts.get(x.id, 0) + 1
        return counts.get(name, 0) == 1


# per function node: the names a function assigns, with how often, the
# locals it mutates, the names it declares global or nonlocal, and what it
# returns (asked again and again while analysing)
_STORES = {}
_MUTATED = {}
_FREE = {}
_RETURNS = {}
_WALRUS = [True]  # whether the function being analysed has an x := ... (most have none)


def _stored(stmts):
    """The names statements assign."""
    return {t.id for st in stmts for t in _walk(st) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}


def _forget_walrus(node, aliases):
    """Forgets the names an expression assigns (x := ...)."""
    if not _WALRUS[0]:
        return
    for t in _walk(node):
        if isinstance(t, ast.NamedExpr) and isinstance(t.target, ast.Name):
            aliases.pop(t.target.id, None)


def _alt_name(node, aliases):
    """A variable node reads whose value depends on the path (_Alts), not
    one the node itself assigns (a comprehension's variable)."""
    names = None
    for t in _walk(node):
        if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Load) and isinstance(aliases.get(t.id), _Alts):
            if names is None:
                names = {x.id for x in _walk(node) if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Store)}
            if t.id not in names:
                return t.id
    return None


def _last_index(node, also=()):
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return node.operand.value == 1
    return isinstance(node, ast.Constant) and (node.value == -1 or node.value in also) and not isinstance(node.value, bool)


def _suffix_of(node):
    """For an expression giving an end of a string (s.split(sep)[-1],
    s.rsplit(sep, n)[-1], s.partition(sep)[2]), the expression s."""
    if not isinstance(node, ast.Subscript):
        return None
    c = node.value
    if not (isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and not c.keywords and c.args
            and isinstance(c.args[0], ast.Constant) and isinstance(c.args[0].value, str) and c.args[0].value):
        return None
    if c.func.attr in ("split", "rsplit") and len(c.args) <= 2 and _last_index(node.slice):
        return c.func.value
    if c.func.attr in ("partition", "rpartition") and len(c.args) == 1 and _last_index(node.slice, (2,)):
        return c.func.value
    return None


def _sfx(v):
    """The end of a string a field read gives."""
    if v is None or isinstance(v[0], tuple):
        return None
    return (v[0] if isinstance(v[0], _Sfx) else _Sfx(v[0])), v[1]


def _model_fns(model_src, model_module, mappings):
    """The data model's mappings as the prefilter reads them."""
    out = {}
    pf = None
    for name, (kind, how) in mappings.items():
        if kind == "path":
            p = how[2:] if how.startswith("$.") else how
            if p in _FIELDS:
                out[name] = ("path", p)
        elif model_src is not None:
            if pf is None:
                pf = _Prefilter(ast.parse(model_src), model_module)
            fn = pf.funcs.get(how)
            if fn is not None and how not in pf.writers:
                out[name] = ("fn", fn, pf)
    return out


def prefilter(source, module=None, model_fns=None):
    """The fields and values an event needs to matter to the rule:
    {field: {"eq": [...], "prefix": [...], "contains": [...]}}, None for
    "never", or {} when nothing is proven."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    pf = _Prefilter(tree, module, model_fns)
    if module is not None:  # the rule's own helpers are analysed with it, not parsed again
        _module_pfs.setdefault(module.__name__, pf)
    fn = pf.funcs.get("rule")
    if fn is None or any(isinstance(x, (ast.Lambda, ast.Yield, ast.YieldFrom, ast.Await)) for x in _walk(fn)):
        return {}
    if sum(1 for d in _walk(tree) if isinstance(d, ast.FunctionDef) and d.name == "rule") != 1:
        return {}
    c = pf.analyze(fn)
    if c is None:
        return None
    out = {}
    for f, (e, p) in sorted(c.items()):
        out[f] = {"eq": sorted(e), "prefix": sorted(s for k, s in p if k == "p"), "contains": sorted(s for k, s in p if k == "c"),
                  "suffix": sorted(s for k, s in p if k == "e"), "isuffix": sorted(s for k, s in p if k == "E"),
                  "ip": any(k == "i" for k, _ in p), "empty": any(k == "n" for k, _ in p)}
    return out


# ----------------------------------------------------------------- exact

# A rule whose rule() is exactly a formula over event fields, and whose
# title() and dedup() are templates of literals and event fields, is
# decided by trailhound in Go, without a call to Python, for the events
# whose fields have the types the formula and templates handle (strings,
# None); for any other event Go says "Python decides" and the event goes
# to the worker as before. Exact means: rule() is made only of `if`,
# `return`, assignments of event values to locals assigned once, and
# docstrings; its expressions only of event.get, event.deep_get,
# event[...] with constant keys, comparisons with string constants (==,
# !=, in, not in over constants of the module, is None), startswith and
# endswith, not, and, or, and calls of functions of the same kind (helpers
# such as aws_cloudtrail_success); every return gives a bool. No cache, no
# module state but constants, nothing else. The formula is JSON:
#   ["and", f, ...], ["or", f, ...], ["not", f], ["if", c, then, else],
#   ["const", b], ["py"] (Python decides: rule() returns no bool there),
#   ["truthy", v], ["startswith", v, [s, ...]], ["endswith", v, [s, ...]],
#   ["eq", v, s], ["in", v, [s, ...]], ["contains", v, s] (s in v),
#   ["none", v] (v is None)
# where v, a value of the event, is [how, [key, ...], default]: how "get"
# (event.get: the default when the key is missing), "deep"
# (event.deep_get: the default when a step is not a mapping, missing or
# None) or "item" (event[key]: KeyError when missing); default null
# (None), a string, or ["empty"] ({}, [] or ()). A template is a list of
# parts: a string, ["fmt", v] (an f-string field without format spec or
# conversion but !s: a string, or "None"), ["cat", v] (an operand of +:
# a string), or, alone, ["val", v] (the function returns the value).


class _NotExact(Exception):
    pass


_EXACT_DEPTH = 3  # helpers followed
_EXACT_NODES = 4000  # formula nodes (if statements copy what follows them)


def _exact_key(k, first):
    return isinstance(k, str) and k.isascii() and not (first and k[:2].lower() == "p_")



def _is_noop(st):
    """Whether statement st does nothing: pass, or a docstring."""
    return isinstance(st, ast.Pass) or isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant) and isinstance(st.value.value, str)

class _Exact:
    """The exact formula of a function of the event (see above)."""

    def __init__(self, pf, fdef, depth=0, budget=None):
        self.pf, self.fdef, self.depth = pf, fdef, depth
        self.budget = budget if budget is not None else [_EXACT_NODES]
        a = fdef.args
        if (fdef.decorator_list or a.posonlyargs or a.vararg or a.kwarg or a.kwonlyargs or a.defaults
                or len(a.args) != 1 or pf is None):
            raise _NotExact
        self.ev = a.args[0].arg
        self.stores = {}
        for x in _walk(fdef):
            if isinstance(x, ast.Name) and not isinstance(x.ctx, ast.Load):
                self.stores[x.id] = self.stores.get(x.id, 0) + 1
            elif x is not fdef and isinstance(x, (ast.Global, ast.Nonlocal, ast.Lambda, ast.FunctionDef,
                                                  ast.AsyncFunctionDef, ast.ClassDef, ast.NamedExpr)):
                raise _NotExact
        if self.ev in self.stores:
            raise _NotExact

    def _tick(self):
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise _NotExact

    def _module_obj(self, node):
        """The module-level object a name (or a module's attribute) holds;
        _MISSING when not a module-level constant."""
        pf = self.pf
        if isinstance(node, ast.Name):
            n = node.id
            if (n in self.stores or n == self.ev or n in pf.twice or n in pf.mutated or n in pf.globals_written
                    or pf.module is None):
                return _MISSING
            return getattr(pf.module, n, _MISSING)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = self._module_obj(node.value)
            if isinstance(base, types.ModuleType):
                obj = getattr(base, node.attr, _MISSING)
                # another module's container may be changed from anywhere
                return obj if type(obj) in (str, tuple, frozenset) or isinstance(obj, types.FunctionType) else _MISSING
        return _MISSING

    def _str(self, node):
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        obj = self._module_obj(node)
        return obj if type(obj) is str else None  # a subclass may compare otherwise

    def _strs(self, node, kinds):
        """The strings of a constant collection of one of kinds (tuple,
        list, set, frozenset), None otherwise."""
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)] not in kinds:
                return None
            out = []
            for e in node.elts:
                s = e.value if isinstance(e, ast.Constant) else None
                if not isinstance(s, str):
                    return None
                out.append(s)
            return sorted(set(out))
        obj = self._module_obj(node)
        if type(obj) in kinds and all(type(x) is str for x in obj):  # a subclass may compare otherwise
            return sorted(set(obj))
        return None

    def _default(self, node):
        if node is None or isinstance(node, ast.Constant) and node.value is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, (ast.Dict, ast.List, ast.Tuple)) and not getattr(node, "elts", None) and not getattr(node, "keys", None):
            return ["empty"]
        raise _NotExact

    def value(self, node, env):
        """The event value node reads, or None when it reads none."""
        if isinstance(node, ast.Name):
            return env.get(node.id)
        ev = self.ev
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == ev:
            k = node.slice
            if isinstance(k, ast.Constant) and _exact_key(k.value, True):
                return ["item", [k.value], None]
            return None
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == ev):
            return None
        args, attr = node.args, node.func.attr
        if any(isinstance(a, ast.Starred) for a in args) or any(k.arg is None for k in node.keywords):
            raise _NotExact
        kw = {k.arg: k.value for k in node.keywords}
        if attr == "get":
            if kw or not 1 <= len(args) <= 2:
                raise _NotExact
            how, keys, d = "get", args[:1], (args[1] if len(args) == 2 else None)
        elif attr == "deep_get":
            if not args or set(kw) - {"default"}:
                raise _NotExact
            how, keys, d = "deep", args, kw.get("default")
        else:
            raise _NotExact
        if not all(isinstance(k, ast.Constant) and _exact_key(k.value, i == 0) for i, k in enumerate(keys)):
            raise _NotExact
        return [how, [k.value for k in keys], self._default(d)]

    def cond(self, node, env):
        """The formula of node's truth."""
        self._tick()
        if isinstance(node, ast.BoolOp):
            return ["and" if isinstance(node.op, ast.And) else "or"] + [self.cond(v, env) for v in node.values]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ["not", self.cond(node.operand, env)]
        if isinstance(node, ast.Constant) and isinstance(node.value, (bool, str, int, type(None))):
            return ["const", bool(node.value)]
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise _NotExact
            op, left, right = node.ops[0], node.left, node.comparators[0]
            neg = isinstance(op, (ast.NotEq, ast.NotIn, ast.IsNot))
            if isinstance(op, (ast.Is, ast.IsNot)):
                v = self.value(left, env)
                if v is None or not (isinstance(right, ast.Constant) and right.value is None):
                    raise _NotExact
                f = ["none", v]
            elif isinstance(op, (ast.Eq, ast.NotEq)):
                v, s = self.value(left, env), self._str(right)
                if v is None:
                    v, s = self.value(right, env), self._str(left)
                if v is None or s is None:
                    raise _NotExact
                f = ["eq", v, s]
            elif isinstance(op, (ast.In, ast.NotIn)):
                v = self.value(left, env)
                if v is not None:
                    strs = self._strs(right, (tuple, list, set, frozenset))
                    if strs is None:
                        raise _NotExact
                    f = ["in", v, strs]
                else:
                    s, v = self._str(left), self.value(right, env)
                    if s is None or v is None:
                        raise _NotExact
                    f = ["contains", v, s]
            else:
                raise _NotExact
            return ["not", f] if neg else f
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Attribute) and fn.attr in ("startswith", "endswith"):
                v = self.value(fn.value, env)
                if v is None or len(node.args) != 1 or node.keywords:
                    raise _NotExact
                s = self._str(node.args[0])
                strs = [s] if s is not None else self._strs(node.args[0], (tuple,))
                if strs is None:
                    raise _NotExact
                return [fn.attr, v, strs]
            v = self.value(node, env)
            if v is not None:
                return ["truthy", v]
            return self._helper(node)
        v = self.value(node, env)
        if v is None:
            raise _NotExact
        return ["truthy", v]

    def _helper(self, node):
        """The formula of a call of a module-level function with the event
        as its only argument, itself exact."""
        if self.depth >= _EXACT_DEPTH or node.keywords or len(node.args) != 1:
            raise _NotExact
        a = node.args[0]
        if not (isinstance(a, ast.Name) and a.id == self.ev):
            raise _NotExact
        fn = self._module_obj(node.func)
        if not isinstance(fn, types.FunctionType):
            raise _NotExact
        pf, fdef = _function_pf(fn)
        if fdef is None or not _same_function(fn, fdef, pf):
            raise _NotExact
        return _Exact(pf, fdef, self.depth + 1, self.budget).body()

    def _is_bool(self, node):
        """Whether node's value, when it has one, is a bool."""
        if isinstance(node, ast.Constant):
            return isinstance(node.value, bool)
        if isinstance(node, ast.Call):
            f = node.func
            # event.get() and deep_get() give a value; startswith, endswith
            # and exact helpers (whose every return is a bool) a bool
            return not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == self.ev)
        if isinstance(node, ast.Compare):
            return True
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, ast.Not)
        if isinstance(node, ast.BoolOp):
            return all(self._is_bool(v) for v in node.values)
        return False

    def _assign(self, st, env):
        """env with what an assignment statement binds, None when st is not
        one."""
        if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)):
            return None
        n = st.targets[0].id
        v = self.value(st.value, env)
        # a local assigned once, an event value that never raises
        if v is None or v[0] == "item" or self.stores.get(n) != 1:
            raise _NotExact
        env = dict(env)
        env[n] = v
        return env

    def body(self):
        """The formula of the function's result (every return a bool)."""
        return self._block(self.fdef.body, {})

    def _block(self, stmts, env):
        for i, st in enumerate(stmts):
            self._tick()
            if _is_noop(st):
                continue
            e2 = self._assign(st, env)
            if e2 is not None:
                env = e2
                continue
            if isinstance(st, ast.Return):
                if st.value is None:
                    return ["py"]
                if not self._is_bool(st.value):
                    raise _NotExact
                return self.cond(st.value, env)
            if isinstance(st, ast.If):
                rest = stmts[i + 1:]
                return ["if", self.cond(st.test, env), self._block(st.body + rest, env), self._block(st.orelse + rest, env)]
            raise _NotExact
        return ["py"]  # falling off the end returns None

    def template(self):
        """The template of the function's result (title, dedup)."""
        env = {}
        for st in self.fdef.body:
            if _is_noop(st):
                continue
            e2 = self._assign(st, env)
            if e2 is not None:
                env = e2
                continue
            if isinstance(st, ast.Return) and st.value is not None:
                node = st.value
                if isinstance(node, (ast.JoinedStr, ast.BinOp)) or isinstance(node, ast.Constant) and isinstance(node.value, str):
                    return self._parts(node, env)
                v = self.value(node, env)
                if v is None:
                    raise _NotExact
                return [["val", v]]
            raise _NotExact
        raise _NotExact

    def _parts(self, node, env):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            out = []
            for p in node.values:
                if isinstance(p, ast.Constant) and isinstance(p.value, str):
                    out.append(p.value)
                    continue
                if not isinstance(p, ast.FormattedValue) or p.format_spec is not None or p.conversion not in (-1, ord("s")):
                    raise _NotExact
                v = self.value(p.value, env)
                if v is None:
                    raise _NotExact
                out.append(["fmt", v])
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._operand(node.left, env) + self._operand(node.right, env)
        raise _NotExact

    def _operand(self, node, env):
        if isinstance(node, (ast.BinOp, ast.JoinedStr)) or isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self._parts(node, env)
        v = self.value(node, env)
        if v is None:
            raise _NotExact
        return [["cat", v]]


def _same_function(fn, fdef, pf):
    """Whether the function object fn is the definition fdef analysed
    (not rebound, not wrapped)."""
    return (fn.__name__ == fdef.name and fn.__qualname__ == fdef.name and fdef.name not in pf.twice
            and fn.__code__.co_firstlineno == fdef.lineno and not fdef.decorator_list)


def exact(module, fns):
    """The exact formula of rule() and the templates of title() and
    dedup() (each when it has one), or None when rule() has none."""
    pf = _module_pfs.get(module.__name__)
    if pf is None or pf.module is not module:
        return None

    def fdef(name):
        d = pf.funcs.get(name)
        if d is None or name not in fns or not _same_function(fns[name], d, pf):
            raise _NotExact
        return d

    try:
        out = {"rule": _Exact(pf, fdef("rule")).body()}
    except (_NotExact, RecursionError):
        return None
    for n in ("title", "dedup"):
        if n in fns:
            try:
                out[n] = _Exact(pf, fdef(n)).template()
            except (_NotExact, RecursionError):
                pass
    return out


# ------------------------------------------------- alert functions later

# The alert functions a rule runs, when they read and write no state, only
# for the match that becomes an alert (the dedup groups the others away):
# all but title, dedup and unique, which every match needs.
_LATER = ("alert_context", "severity", "description", "reference", "runbook", "destinations")
_STATEFUL = set()  # ids of the cache functions and modules
_CHECKOUT = []  # folders of rules, helpers and data models (ending with a separator)
_MODEL = [None]  # the AWS.CloudTrail data model
_PURE = {}  # function -> stateless or not
_IMMUTABLE = (str, bytes, int, float, complex, bool, type(None), tuple, frozenset, re.Pattern, range)


def _in_checkout(obj):
    name = getattr(obj, "__module__", None)
    if not isinstance(name, str):
        return False
    if name.startswith("_th_"):
        return True
    f = getattr(sys.modules.get(name), "__file__", None) or ""
    return any(f.startswith(d) for d in _CHECKOUT)


def _later(r):
    """Whether the rule's alert functions but title, dedup and unique read
    and write no state, so that they can run only for a raised alert."""
    try:
        return any(n in r.fns for n in _LATER) and all(_stateless(r.fns[n]) for n in _LATER if n in r.fns)
    except Exception:  # noqa: BLE001 - not proven: every match runs them
        return False


def _stateless(fn):
    """Whether calling fn (a function of a rule, helper or data model)
    reads and writes no state that outlives an event: no cache call, no
    module-level value that any code rebinds or mutates, no object of the
    checkout's classes; followed into the functions of the checkout it
    uses (other modules' functions are taken to keep no rule state).
    Unproven: False."""
    got = _PURE.get(fn)
    if got is not None:
        return got
    _PURE[fn] = True  # a recursive call is judged by the rest
    ok = False
    try:
        ok = _stateless_body(fn)
    finally:
        _PURE[fn] = ok
    return ok


def _stateless_body(fn):
    if not isinstance(fn, types.FunctionType) or id(fn) in _STATEFUL:
        return False
    pf, fdef = _function_pf(fn)
    if fdef is None or fdef.decorator_list:
        return False
    mod = sys.modules.get(fn.__module__)
    a = fdef.args
    local = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x is not None}
    local |= {x.id for x in _walk(fdef) if isinstance(x, ast.Name) and isinstance(x.ctx, (ast.Store, ast.Del))}
    for x in _walk(fdef):
        if isinstance(x, (ast.Global, ast.Nonlocal)):
            return False
        if isinstance(x, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) and x is not fdef:
            return False  # closures: not followed
        if isinstance(x, ast.Attribute) and x.attr == "udm":
            m = _MODEL[0]
            fns = [how for kind, how in getattr(m, "mappings", {}).values() if kind == "method"] if isinstance(m, DataModel) else []
            if m is not None and not isinstance(m, DataModel) or not all(_stateless(f) for f in fns):
                return False
        if not isinstance(x, ast.Name) or x.id in local:
            continue
        n = x.id
        if n in pf.mutated or n in pf.globals_written or n in pf.twice:
            return False
        obj = getattr(mod, n, _MISSING)
        if obj is _MISSING:
            continue  # a builtin
        if not _stateless_value(obj, own=True):
            return False
    # attributes of modules: helpers.fn, helpers.CONSTANT
    for x in _walk(fdef):
        if isinstance(x, ast.Attribute) and isinstance(x.value, ast.Name) and x.value.id not in local:
            base = getattr(mod, x.value.id, None)
            if isinstance(base, types.ModuleType):
                obj = getattr(base, x.attr, _MISSING)
                if obj is not _MISSING and not _stateless_value(obj, own=False):
                    return False
    return True


def _stateless_value(obj, own):
    """Whether reading obj, a module-level value a function names, reads
    no state: own is whether the function's module holds it (whose own
    mutations were looked for)."""
    if id(obj) in _STATEFUL:
        return False
    if isinstance(obj, types.ModuleType):
        return True
    if isinstance(obj, types.FunctionType):
        return _stateless(obj) if _in_checkout(obj) else True
    if isinstance(obj, _IMMUTABLE):
        return True
    if isinstance(obj, (dict, list, set)):
        return own  # another module's container may be mutated from anywhere
    if isinstance(obj, type):
        return not _in_checkout(obj)
    if callable(obj) and not _in_checkout(obj) and not _in_checkout(type(obj)):
        return True  # a builtin function, a method of a library
    return False


# ---------------------------------------------------------------- rules

_SEVERITIES = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")


class RuleTimeout(BaseException):
    """Raised in a rule that ran past its time limit (a BaseException, so
    that a rule's own `except Exception` does not swallow it)."""


def _alarm(_sig, _frame):
    raise RuleTimeout()


class Rule:
    def __init__(self, spec):
        self.id = spec["id"]
        self.path = spec["path"]
        self.name = spec.get("name") or self.id
        self.log_types = spec.get("log_types") or []
        self.module = None
        self.error = None
        self.prefilter = {}
        self.fns = {}
        self.later = False  # the alert functions but title, dedup and unique run only for an alert
        self.parts = {}  # "match", "alert": the functions each part runs (made once, when later)


class Worker:
    def __init__(self):
        self.rules = []
        self.models = {}  # log type -> DataModel
        self.timeout = 5.0
        self.extra = {}

    def load(self, cfg):
        if cfg.get("code_cache"):
            _cache_code(cfg["code_cache"], cfg.get("helpers") or [])
        _CHECKOUT[:] = [os.path.join(os.path.abspath(d), "") for d in cfg.get("helpers") or []]
        _CHECKOUT.extend(os.path.join(os.path.dirname(os.path.abspath(x["path"])), "") for x in cfg.get("rules") or [])
        for d in reversed(cfg.get("helpers") or []):
            if d not in sys.path:
                sys.path.insert(0, d)
        for d in cfg.get("path_after") or []:
            if d not in sys.path:
                sys.path.append(d)
        _install_modules()
        self.timeout = cfg.get("timeout") or 5.0
        self.extra = {"p_parse_time": cfg.get("parse_time"), "p_log_type": "AWS.CloudTrail"}
        out = {"rules": [], "models": [], "analysed": bool(cfg.get("prefilter", True))}
        for i, m in enumerate(cfg.get("models") or []):
            err = None
            try:
                mod, src = None, None
                if m.get("path"):
                    mod = self._import(m["path"], f"_th_model_{i}")
                    with open(m["path"], "rb") as f:
                        src = f.read()
                model = DataModel({k: tuple(v) for k, v in m["mappings"].items()}, mod, src)
                for lt in m.get("log_types") or []:
                    self.models.setdefault(lt, model)
            except BaseException as e:  # noqa: BLE001 - reported, not fatal
                err = _last_line(e)
                for lt in m.get("log_types") or []:
                    self.models.setdefault(lt, BrokenModel(err))
            out["models"].append(err)
        model_fns = {}
        ct = self.models.get("AWS.CloudTrail")
        analyse = cfg.get("prefilter", True)
        # a rule whose analysis trailhound has cached (by its content) is
        # not analysed again
        if isinstance(ct, DataModel) and analyse and not all(x.get("cached") for x in cfg.get("rules") or []):
            try:
                model_fns = _model_fns(ct.src, ct.module, ct.raw)
            except Exception:  # noqa: BLE001 - no prefilter through the data model
                model_fns = {}
        for i, spec in enumerate(cfg.get("rules") or []):
            r = Rule(spec)
            self.rules.append(r)
            ans = {}
            try:
                with open(r.path, "rb") as f:
                    src = f.read()
                r.module = self._import(r.path, f"_th_rule_{i}")
                for n in ("rule", "title", "dedup", "alert_context", "severity", "description", "reference",
                          "runbook", "destinations", "unique"):
                    fn = getattr(r.module, n, None)
                    if callable(fn):
                        r.fns[n] = fn
                if "rule" not in r.fns:
                    raise AttributeError(f"{os.path.basename(r.path)} defines no rule() function")
                if analyse and not spec.get("cached"):
                    _PF_DEPS[0] = {}
                    try:
                        r.prefilter = prefilter(src, r.module, model_fns)
                    except Exception as e:  # noqa: BLE001 - an analysis failure costs only speed
                        r.prefilter = {}
                        r.prefilter_error = _last_line(e)
                    try:
                        ex = exact(r.module, r.fns) if r.prefilter is not None else None
                    except Exception:  # noqa: BLE001 - not exact then: Python decides
                        ex = None
                    if ex is not None:
                        ans["exact"] = ex
                    # analysed with the prefilter, and cached with it: it
                    # parses the helpers, and reads the lazily imported ones
                    r.later = _later(r)
                    # what the analysis read, for trailhound's cache of it
                    ans["prefilter_src"] = _sha256(src).hexdigest()
                    ans["prefilter_deps"] = _PF_DEPS[0]
                    _PF_DEPS[0] = None
                ans["functions"] = sorted(r.fns)
                ans["prefilter"] = r.prefilter
                if spec.get("cached"):
                    r.later = bool(spec.get("later"))  # trailhound's cache of the analysis
                elif not analyse:
                    r.later = _later(r)
                ans["later"] = r.later
                r.parts = {"all": r.fns, "match": {k: v for k, v in r.fns.items() if k not in _LATER},
                           "alert": {k: v for k, v in r.fns.items() if k in _LATER}}
                if getattr(r, "prefilter_error", None):
                    ans["prefilter_error"] = r.prefilter_error
            except BaseException as e:  # noqa: BLE001 - a rule that cannot load is reported
                r.error = _last_line(e)
                r.module = None
                ans["error"] = r.error
            out["rules"].append(ans)
        self.ct_model = self.models.get("AWS.CloudTrail")
        _MODEL[0] = self.ct_model
        _WALKED.clear()
        _STORES.clear()
        _MUTATED.clear()
        if _CODE_CACHE_ERR[0]:
            out["code_cache_error"] = _CODE_CACHE_ERR[0]
        _FREE.clear()
        _RETURNS.clear()
        _PURE.clear()
        return out

    def _import(self, path, name):
        spec = importlib.util.spec_from_file_location(name, path, loader=_CachedLoader(name, path))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        signal.setitimer(signal.ITIMER_REAL, max(self.timeout, 10.0))
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return mod

    def run(self, r, event, part="all"):
        """Runs a rule on an event as Panther does: rule(), then, when it
        is true, the alert functions (part "match": only title, dedup and
        unique when the others run only for an alert). Returns the result
        dict."""
        res = {}
        fns = r.fns
        try:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
            try:
                m = fns["rule"](event)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except RuleTimeout:
            res["e"] = f"rule() ran past the time limit of {self.timeout:g}s"
            res["timeout"] = True
            return res
        except BaseException as e:  # noqa: BLE001 - a rule error
            res["e"] = _last_line(e)
            return res
        if not isinstance(m, bool):
            res["e"] = f"rule() returned {type(m).__name__} {_short(m)}, not a bool"
            return res
        res["m"] = m
        if not m:
            return res
        self._run_aux(r, event, res, "match" if part == "match" and r.later else "all")
        return res

    def _run_aux(self, r, event, res, part):
        aux = []
        try:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
            self._aux(r, event, res, aux, part)
        except RuleTimeout:
            aux.append(f"alert functions ran past the time limit of {self.timeout:g}s")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if aux:
            res["ae"] = aux

    def _aux(self, r, event, res, aux, part="all"):
        """Runs the alert functions: part "all", "match" (title, dedup,
        unique) or "alert" (the others)."""
        fns = r.parts.get(part, r.fns)

        def call(name):
            try:
                return True, fns[name](event)
            except RuleTimeout:
                raise
            except BaseException as e:  # noqa: BLE001
                aux.append(f"{name}(): {_last_line(e)}")
                return False, None

        title = None
        if "title" in fns:
            ok, v = call("title")
            title = _trunc(str(v)) if ok else r.id
            res["title"] = title
        for name in ("description", "reference", "runbook"):
            if name in fns:
                ok, v = call(name)
                if ok and v:
                    res[name] = _trunc(str(v))
        if "severity" in fns:
            ok, v = call("severity")
            if ok:
                s = str(v).upper()
                if s == "DEFAULT":
                    pass
                elif s in _SEVERITIES:
                    res["sev"] = s
                else:
                    aux.append(f"severity(): {v!r} is not one of {', '.join(_SEVERITIES)} or DEFAULT")
        if "destinations" in fns:
            ok, v = call("destinations")
            if ok and v is not None:
                res["dest"] = [str(x) for x in v][:10]
        default = "defaultDedupString:" + r.id
        if "dedup" in fns:
            ok, v = call("dedup")
            res["dedup"] = _trunc(str(v)) if ok and v else default
        elif part != "alert":
            res["dedup"] = title if title else default
        if "alert_context" in fns:
            ok, v = call("alert_context")
            if ok:
                if not isinstance(v, Mapping):
                    aux.append(f"alert_context(): returned {type(v).__name__}, not a mapping")
                else:
                    try:
                        s = _dumps(v)
                    except (TypeError, ValueError) as e:
                        s = _dumps({"_error": f"alert_context not serialisable: {e}"})
                    if len(s) > 200 * 1024:
                        s = _dumps({"_error": "alert_context is larger than 200 KB"})
                    res["ctx"] = json.loads(s)
        if "unique" in fns:
            ok, v = call("unique")
            if ok and v is not None:
                res["uniq"] = str(v)

    def _event(self, hdr, raw):
        rec = json.loads(raw)
        extra = dict(self.extra)
        if "t" in hdr:
            extra["p_event_time"] = hdr["t"]
        if "id" in hdr:
            extra["p_row_id"] = hdr["id"]
        _now[0] = hdr.get("now", 0)
        return PantherEvent(rec if isinstance(rec, dict) else {}, extra, self.models.get("AWS.CloudTrail"))

    def alert(self, hdr, raw):
        """The alert functions that run only for an alert (a rule's
        later ones), on the record of the match that raised it."""
        r = self.rules[hdr["r"][0]]
        if r.module is None:
            return {"e": r.error or "not loaded"}
        res = {}
        self._run_aux(r, self._event(hdr, raw), res, "alert")
        return res

    def evaluate(self, hdr, raw):
        event = self._event(hdr, raw)
        out = []
        for i in hdr["r"]:
            r = self.rules[i]
            if r.module is None:
                out.append({"e": r.error or "not loaded"})
                continue
            res = self.run(r, event, "match")
            # the usual answer, rule() false, is sent as 0
            out.append(0 if len(res) == 1 and res.get("m") is False else res)
        return out

    def test(self, t):
        """Runs one unit test as Panther's test runner does: the log as the
        event, Mocks patched into the rule module, rule() compared with the
        expected result and, for a match, every alert function run."""
        global _cache_local
        from unittest import mock

        r = self.rules[t["rule"]]
        if r.module is None:
            return {"e": r.error}
        rec = t["log"]
        log_type = t.get("log_type") or (isinstance(rec, dict) and rec.get("p_log_type")) or "AWS.CloudTrail"
        if isinstance(rec, dict) and "p_log_type" not in rec:
            rec = dict(rec)
            rec["p_log_type"] = log_type
        event = PantherEvent(rec if isinstance(rec, dict) else {}, None, self.models.get(log_type))
        _cache_local = {}
        _now[0] = 0
        patches = []
        try:
            for m in t.get("mocks") or []:
                name, value = m.get("objectName"), m.get("returnValue")
                # as Panther's test runner: a MagicMock returning the value,
                # whatever the name held (rules test isinstance(x, MagicMock))
                p = mock.patch.object(r.module, name, mock.MagicMock(return_value=value), create=True)
                p.start()
                patches.append(p)
            res = self.run(r, event)
            if log_type not in self.models:
                res["nomodel"] = log_type
            return res
        finally:
            for p in reversed(patches):
                p.stop()
            _cache_local = None


def _short(v):
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _trunc(s):
    return s if len(s) <= 1000 else s[:1000] + "... (truncated)"


def _last_line(e):
    """The last line of the traceback, with the innermost frame."""
    tb = traceback.extract_tb(e.__traceback__)
    where = f" ({os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    if isinstance(e, SyntaxError):
        where = f" ({os.path.basename(e.filename or '?')}:{e.lineno})"
        return f"SyntaxError: {e.msg}{where}"
    if isinstance(e, RuleTimeout):
        return "ran past the time limit" + where
    msg = str(e)
    return f"{type(e).__name__}: {msg}{where}" if msg else f"{type(e).__name__}{where}"


def main():
    signal.signal(signal.SIGALRM, _alarm)
    if hasattr(sys, "set_int_max_str_digits"):
        # json.loads's limit on integers, whatever PYTHONINTMAXSTRDIGITS
        # says: Go decides records within the default (longDigits)
        sys.set_int_max_str_digits(4300)
    w = Worker()
    while True:
        f = _read_frame()
        if f is None:
            return
        op, body = f[:1], f[1:]
        if op == b"E":
            nl = body.index(b"\n")
            hdr = json.loads(body[:nl])
            try:
                ans = w.evaluate(hdr, body[nl + 1:])
            except Exception as e:  # noqa: BLE001 - the event, not a rule, failed: say so for each rule
                ans = [{"e": "the event could not be given to the rule: " + _last_line(e)} for _ in hdr["r"]]
        elif op == b"B":  # a batch: a header, a newline, the events one after another
            nl = body.index(b"\n")
            hdr = json.loads(body[:nl])
            pos = nl + 1
            ans = []
            for h, n in zip(hdr["events"], hdr["n"]):
                raw = body[pos:pos + n]
                pos += n
                try:
                    ans.append(w.evaluate(h, raw))
                except Exception as e:  # noqa: BLE001 - the event, not a rule, failed
                    ans.append([{"e": "the event could not be given to the rule: " + _last_line(e)} for _ in h["r"]])
        elif op == b"A":  # the alert functions of an alert: a header, a newline, the record
            nl = body.index(b"\n")
            hdr = json.loads(body[:nl])
            try:
                ans = w.alert(hdr, body[nl + 1:])
            except Exception as e:  # noqa: BLE001 - the event, not a rule, failed
                ans = {"ae": ["the event could not be given to the alert functions: " + _last_line(e)]}
        elif op == b"T":
            try:
                ans = w.test(json.loads(body))
            except Exception as e:  # noqa: BLE001 - a test that cannot be set up
                ans = {"e": "the test could not run: " + _last_line(e)}
        elif op == b"L":
            ans = w.load(json.loads(body))
        elif op == b"P":
            ans = {"pid": os.getpid(), "version": sys.version.split()[0]}
        elif op == b"R":
            continue  # a late cache reply: nothing waits for it
        else:
            ans = {"err": f"unknown operation {op!r}"}
        _write_frame(b"D", _dumps(ans).encode())


if __name__ == "__main__":
    main()
