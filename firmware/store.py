"""JSON files on flash, replaced atomically: a temp file renamed over the old one (power-loss safe on LittleFS)."""
import json
import os


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)
