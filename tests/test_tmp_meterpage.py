import json
import os

import pytest

from tools.benchmarks import every_feature_config, every_feature_with_page


@pytest.mark.parametrize("k", range(2))
def test_page_meter(vboard, site, broker, k):
    b = vboard(None, romfs="320k", start=False, meter="ade7953", heap=int(os.environ.get("CAP", "0")) or None)
    c = every_feature_config(site, b.ap, broker.board_config(), True)
    if not os.environ.get("NOMETER"):
        c["meter"] = {"max_watts": 3500}
        from tools.server import demo
        for i, w in enumerate(demo.POWER):
            b.mains.set_load(i, w)
    (b.board_dir / "config.json").write_text(json.dumps(c))
    b.start()
    try:
        least, out, page = every_feature_with_page(b)
        r = "least %d polls %d refused %d" % (least, len(page.seen), len(page.refused))
    except Exception as e:
        r = "FAILED %s" % str(e)[:300].replace("\n", " | ")
    open("/tmp/meterpage.res", "a").write("RESULT %s %s\n" % (k, r))
