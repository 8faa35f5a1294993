"""The GraphML that render writes (graphs/latest/graph.graphml of the demo round) loads in networkx with typed attributes."""

from __future__ import annotations

import io

import boto3
import networkx as nx
from botocore.config import Config

from conftest import CUT, NODES, Demo


def _graphml(demo: Demo) -> bytes:
    client = boto3.client(
        "s3",
        endpoint_url=demo.endpoint,
        aws_access_key_id=demo.access_key,
        aws_secret_access_key=demo.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    return client.get_object(Bucket=demo.bucket, Key="graphs/latest/graph.graphml")["Body"].read()


def test_networkx_reads_every_node_and_directed_edge_with_typed_attributes(demo: Demo) -> None:
    graph = nx.read_graphml(io.BytesIO(_graphml(demo)))
    assert graph.is_directed()
    labels = {data["label"] for _, data in graph.nodes(data=True)}
    assert labels == set(NODES)
    by_names = {
        (graph.nodes[u]["label"], graph.nodes[v]["label"]): data for u, v, data in graph.edges(data=True)
    }
    assert set(by_names) == {(s, d) for s in NODES for d in NODES if s != d}
    cut = by_names[CUT]
    assert cut["connectivity"] == 0 and isinstance(cut["connectivity"], int)
    assert cut["reason"] == "unreachable"
    working = by_names[("node-2", "node-1")]
    assert working["connectivity"] == 1
    # Declared as double: networkx gives floats, in base units (seconds, bit/s).
    assert isinstance(working["latency_mean_seconds"], float) and 0 < working["latency_mean_seconds"] < 1
    assert isinstance(working["throughput_mean_bits_per_second"], float)
    assert working["throughput_mean_bits_per_second"] > 1e6
    assert isinstance(working["stale"], bool) and working["stale"] is False
