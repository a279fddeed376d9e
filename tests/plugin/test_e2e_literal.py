"""Template-looking values reach real tofu and real providers literally.

The runtime's desired state escapes every value (jetgen.runtime.literal); here tofu applies
such a main.tf.json with the real random and local providers, and the state, the file on
disk and the plugin-protocol poll all see exactly the text of the spec.  Had any string
been evaluated, ``${file(...)}`` would have put the marker file's content somewhere, and
``${aws:username}`` would have failed the run.
"""

from __future__ import annotations

import json

import pytest
from jetgen.runtime import poll

from .conftest import run
from .test_e2e_poll import Bed, check

pytestmark = pytest.mark.e2e

MARKER_CONTENT = "marker-content-never-read-7f3a"


def hostile_texts(marker) -> list[str]:
    return [
        f'${{file("{marker}")}}',
        "%{ if true }yes%{ endif }",
        "$${x}",
        "$${",
        "%%{",
        "${aws:username}",
        "$$$${x}%%%{ a $ % { }",
    ]


def test_literals_reach_state_and_provider(testbed, tmp_path):
    marker = tmp_path / "marker"
    marker.write_text(MARKER_CONTENT)
    texts = hostile_texts(marker)
    target = tmp_path / "out" / "f.txt"
    local, rand = (Bed(testbed, tmp_path / n, n) for n in ("local", "random"))
    file_args = {"filename": str(target), "content": "\n".join(texts)}
    # random_shuffle: list items and the keepers map's keys and values.
    shuffle_args = {"input": texts, "result_count": len(texts), "keepers": {t: t for t in texts}}

    async def scenario():
        await local.prepare()
        await rand.prepare()
        pools = [local.pool(), rand.pool()]
        try:
            file_config = local.config("local_file", file_args)
            shuffle_config = rand.config("random_shuffle", shuffle_args)
            assert MARKER_CONTENT not in json.dumps([file_config.config, shuffle_config.config])
            f = await local.workdir("f", file_config)
            s = await rand.workdir("s", shuffle_config)

            assert target.read_text() == "\n".join(texts)
            assert f.resource_attributes()["content"] == "\n".join(texts)
            shuffled = s.resource_attributes()
            assert shuffled["input"] == texts
            assert sorted(shuffled["result"]) == sorted(texts)
            assert shuffled["keepers"] == {t: t for t in texts}
            for wd in (f, s):
                assert MARKER_CONTENT not in wd.read_state().decode()

            # The provider, shown the unescaped literal, plans nothing: poll and tofu agree.
            for bed, pool, wd, config in (
                (local, pools[0], f, file_config),
                (rand, pools[1], s, shuffle_config),
            ):
                assert await check(bed.poller(pool), wd, config) == poll.UNCHANGED
                assert await bed.tofu_verdict(wd) == poll.UNCHANGED
        finally:
            for pool in pools:
                await pool.close()

    run(scenario())
