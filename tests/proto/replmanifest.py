"""Manifests of a data_dir for the replication tests.

manifest() maps each replicated path to its type and mode and, for a
file, its size, modification time and SHA-256, so that two nodes' data
directories compare equal exactly when the replication left them
byte-identical. excluded() mirrors repl_path_excluded() in
storage/repl_wire.c: node-local state and files in the making.
"""

import hashlib
import os
import stat


def excluded(rel):
    """True for the paths that never travel to the peer."""
    parts = rel.split("/")
    if parts[0] in ("generation", "replication"):
        return True
    if parts[0].startswith(".cluster-probe."):
        return True
    if parts[:2] == ["queue", "tmp"]:
        return True
    if parts[0] == "mail" and len(parts) >= 4:
        if parts[3] == "tmp":
            return True
        if len(parts) >= 5 and len(parts[3]) > 1 and \
                parts[3].startswith(".") and parts[4] == "tmp":
            return True
    return False


def manifest(data_dir):
    """Walks data_dir without following links and lists what it holds."""
    out = {}
    for root, dirs, files in os.walk(data_dir):
        rel_root = os.path.relpath(root, data_dir)
        kept = []
        for name in dirs:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            if excluded(rel):
                continue
            kept.append(name)
            st = os.lstat(os.path.join(root, name))
            out[rel] = ("dir", oct(stat.S_IMODE(st.st_mode)))
        dirs[:] = kept
        for name in files:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            # A write_file_atomic() temporary file lives for a moment.
            if excluded(rel) or ".tmp." in name:
                continue
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            except FileNotFoundError:
                continue
            out[rel] = ("file", oct(stat.S_IMODE(st.st_mode)), st.st_size,
                        st.st_mtime_ns, digest)
    return out


def manifest_diff(a, b):
    """One line for each path whose entry differs between a and b."""
    return [f"{path}: {a.get(path)} / {b.get(path)}"
            for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]
