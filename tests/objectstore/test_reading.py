"""Input from the real S3 server: every format, key order, and shards whose slices add up to the whole."""

from __future__ import annotations

import pytest

from tests.objectstore.data import ENCODERS, TUTORIAL_25K_ROWS, jsonl, parquet, put
from tests.support.data import aloha_rows
from wallaroo_operator.objectstore import ObjectStore, plan_input, read_all, read_shard

ROWS = aloha_rows(TUTORIAL_25K_ROWS)


def rows_of(batches) -> list[list]:
    return [row for batch in batches for row in batch.rows]


def shard_slices(store: ObjectStore, plan, count: int) -> list[list[list]]:
    return [rows_of(read_shard(store, plan, index, count)) for index in range(count)]


@pytest.mark.parametrize(
    ("key", "encode", "by_rows"),
    [("tutorial/data-25k.jsonl", jsonl, False), ("tutorial/data-25k.parquet", parquet, True)],
)
def test_25k_rows_sharded_four_ways_add_up_to_the_whole(store: ObjectStore, key: str, encode, by_rows: bool) -> None:
    put(store, key, encode(ROWS))
    plan = plan_input(store, key=key)
    assert plan.by_rows is by_rows
    whole = rows_of(read_all(store, plan))
    assert whole == ROWS
    slices = shard_slices(store, plan, 4)
    assert [row for piece in slices for row in piece] == ROWS
    sizes = [len(piece) for piece in slices]
    assert min(sizes) > TUTORIAL_25K_ROWS // 4 * 0.9, sizes  # each shard really got a quarter
    if by_rows:  # exact row ranges from the row-group metadata
        assert sizes == [6238, 6239, 6238, 6239]


def test_a_parquet_shard_fetches_only_its_row_groups(s3, bucket: str) -> None:
    from tests.support.s3 import store_for

    writer = store_for(s3, bucket)
    put(writer, "big.parquet", parquet(ROWS, row_group_rows=1000))
    plan = plan_input(writer, key="big.parquet")
    reader = store_for(s3, bucket)
    rows_of(read_shard(reader, plan, 3, 4))
    whole = store_for(s3, bucket)
    rows_of(read_all(whole, plan))
    # The footer plus about a quarter of the row groups, not every row group.
    assert reader.requests < whole.requests / 2, (reader.requests, whole.requests)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_format_reads_the_same_rows(store: ObjectStore, name: str) -> None:
    rows = aloha_rows(2500, seed=7)
    put(store, f"in/{name}", ENCODERS[name](rows))
    batches = list(read_all(store, plan_input(store, key=f"in/{name}"), batch_rows=1000))
    assert rows_of(batches) == rows
    assert {batch.input_name for batch in batches} == {"text_input"}
    assert max(len(batch.rows) for batch in batches) <= 1000


def test_a_prefix_is_read_in_key_order_skipping_markers(store: ObjectStore) -> None:
    parts = [aloha_rows(100, seed=seed) for seed in range(3)]
    put(store, "daily/part-b.jsonl", jsonl(parts[1]))
    put(store, "daily/part-a.parquet", parquet(parts[0]))
    put(store, "daily/part-c.json.gz", ENCODERS["data.json.gz"](parts[2]))
    put(store, "daily/_SUCCESS", b"")
    put(store, "daily/.part-a.parquet.crc", b"crc")
    put(store, "daily/", b"")
    plan = plan_input(store, prefix="daily/")
    assert [o.info.key for o in plan.objects] == ["daily/part-a.parquet", "daily/part-b.jsonl", "daily/part-c.json.gz"]
    whole = parts[0] + parts[1] + parts[2]
    assert rows_of(read_all(store, plan)) == whole
    for count in (2, 3, 5):  # mixed formats: planned by bytes, indivisible objects go whole
        assert [row for piece in shard_slices(store, plan, count) for row in piece] == whole


def test_jsonl_split_points_fall_on_every_kind_of_byte(store: ObjectStore) -> None:
    """Shard boundaries inside a line, at a newline, and right after one: each line is read exactly once."""
    rows = aloha_rows(40, seed=3)
    put(store, "small.jsonl", jsonl(rows))
    plan = plan_input(store, key="small.jsonl")
    for count in [*range(1, 16), 39, 40]:
        assert [row for piece in shard_slices(store, plan, count) for row in piece] == rows, count


def test_a_column_is_chosen_among_several(store: ObjectStore) -> None:
    import pyarrow as pa

    rows = aloha_rows(50)
    put(store, "wide.parquet", parquet(rows, name="tensor", id=pa.array(range(50))))
    assert rows_of(read_all(store, plan_input(store, key="wide.parquet"), column="tensor")) == rows


def test_a_plan_made_once_is_what_every_shard_reads(store: ObjectStore) -> None:
    """The plan travels as JSON to every shard; objects added later under the prefix change nothing."""
    import json

    from wallaroo_operator.objectstore import InputPlan

    first, second = aloha_rows(300, seed=1), aloha_rows(300, seed=2)
    put(store, "in/a.jsonl", jsonl(first))
    put(store, "in/b.parquet", parquet(second))
    plan = InputPlan.from_dict(json.loads(json.dumps(plan_input(store, prefix="in/").to_dict())))
    put(store, "in/aa.jsonl", jsonl(aloha_rows(50, seed=3)))  # arrives after planning
    assert [row for piece in shard_slices(store, plan, 3) for row in piece] == first + second
