"""Post-processing of compiled KFP IR: write each distinct component once.

The compiler gives every use of a component or sub-pipeline its own copy (`comp-nao-round`,
`comp-nao-round-2`, ...), so an unrolled L-round search grows by a round's worth of specs per
round. The IR lets any number of tasks reference one component (`componentRef.name`) and one
executor (`executorLabel`), so identical copies are merged: executors whose container spec and
Kubernetes platform spec are equal, then, until nothing changes, components whose specs are
equal once their references are renamed to the merged ones.
"""

from __future__ import annotations

import json
from typing import Any


def _key(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def _rank(name: str) -> tuple[int, str]:
    return (len(name), name)


def _rename_refs(obj: Any, comp: dict[str, str], execs: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "componentRef" and isinstance(v, dict) and "name" in v:
                v = {**v, "name": comp.get(v["name"], v["name"])}
            elif k == "executorLabel" and isinstance(v, str):
                v = execs.get(v, v)
            out[k] = _rename_refs(v, comp, execs)
        return out
    if isinstance(obj, list):
        return [_rename_refs(v, comp, execs) for v in obj]
    return obj


def dedup_components(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[pipeline spec, optional platform spec] -> the same with duplicates merged."""
    spec = docs[0]
    platform = docs[1] if len(docs) > 1 else None
    k8s: dict[str, Any] = {}
    if platform is not None:
        k8s = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
        k8s = k8s.get("executors", {})
    executors = spec["deploymentSpec"]["executors"]
    groups: dict[str, str] = {}
    exec_map: dict[str, str] = {}
    for name in sorted(executors, key=_rank):
        key = _key([executors[name], k8s.get(name)])
        exec_map[name] = groups.setdefault(key, name)
    comps = spec["components"]
    comp_map = {name: name for name in comps}
    while True:
        groups = {}
        new_map = dict(comp_map)
        for name in sorted(comps, key=_rank):
            if comp_map[name] != name:
                continue
            key = _key(_rename_refs(comps[name], comp_map, exec_map))
            new_map[name] = groups.setdefault(key, name)
        new_map = {n: new_map[r] for n, r in comp_map.items()}
        if new_map == comp_map:
            break
        comp_map = new_map
    spec = _rename_refs(spec, comp_map, exec_map)
    spec["components"] = {n: c for n, c in spec["components"].items() if comp_map[n] == n}
    spec["deploymentSpec"]["executors"] = {
        n: e for n, e in spec["deploymentSpec"]["executors"].items() if exec_map[n] == n
    }
    out = [spec]
    if platform is not None:
        if k8s:
            kept = {n: v for n, v in k8s.items() if exec_map.get(n, n) == n}
            platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"] = kept
        out.append(platform)
    return out
