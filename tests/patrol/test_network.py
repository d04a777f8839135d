"""Road networks from OSM XML, OSMnx GraphML and line layers; snapping and splitting."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString

from geogrid import Hierarchy
from geogrid.errors import InputError, LayerError
from geogrid.patrol.network import (
    RoadNetwork,
    default_network,
    line_length_m,
    read_network,
)
from tests.conftest import SAMPLE_MANIFEST
from tests.patrol import DATA

EAST_M, NORTH_M = 98.35, 110.8  # 0.001° of longitude and of latitude at 28° N, in metres


def lengths_by_name(network: RoadNetwork) -> dict[str, list[float]]:
    grouped = network.edges.groupby("name")["length_m"].apply(lambda s: sorted(s.round(1)))
    return grouped.to_dict()


def test_osm_ways_are_cut_at_shared_nodes_and_unwalkable_ways_left_out():
    network = read_network(DATA / "block.osm")
    # A-B, B-C, D-E, E-F, A-D, B-E: the motorway, the building, the private footway and
    # the way whose second node is outside the extract are not roads to walk.
    assert network.graph.number_of_nodes() == 6
    assert network.graph.number_of_edges() == 6
    assert network.component_count == 1
    names = lengths_by_name(network)
    assert names["南街"] == pytest.approx([EAST_M, EAST_M], abs=0.3)
    assert names["中巷"] == pytest.approx([NORTH_M], abs=0.3)
    assert sorted(network.edges["kind"].unique()) == ["footway", "residential", "service"]
    assert network.total_length_m == pytest.approx(4 * EAST_M + 2 * NORTH_M, abs=1)


def test_graphml_from_osmnx_merges_directions_and_keeps_curved_geometry():
    network = read_network(DATA / "block.graphml")
    assert network.graph.number_of_nodes() == 6
    assert network.graph.number_of_edges() == 6  # 11 directed edges, 6 streets
    curved = network.edges[network.edges["name"] == "中巷"].iloc[0]
    assert len(curved.geometry.coords) == 3
    assert curved.length_m > NORTH_M + 5  # bends 20 m east: longer than the straight line
    for _, _, data in network.graph.edges(data=True):  # lengths are measured, not copied
        assert data["length"] == pytest.approx(line_length_m(data["geometry"]))


def test_line_layer_is_noded_at_shared_vertices():
    network = read_network(DATA / "lattice.geojson")
    # 5 streets west-east and 9 south-north, crossing at 45 vertices.
    assert network.graph.number_of_nodes() == 45
    assert network.graph.number_of_edges() == 5 * 8 + 9 * 4
    assert network.component_count == 1
    assert set(network.edges["kind"]) == {"branch", "lane"}


def test_the_sample_districts_roads_are_the_default_network():
    district = Hierarchy.from_manifest(SAMPLE_MANIFEST)
    network = default_network(district)
    roads = district.roads()
    assert network.graph.number_of_edges() == len(roads)
    assert network.total_length_m == pytest.approx(roads["length_m"].sum(), rel=1e-3)
    assert network.component_count == 1
    assert "roads.gpkg#roads" in network.source
    assert read_network(SAMPLE_MANIFEST.parent / "roads.gpkg#roads").graph.number_of_edges() == len(
        roads
    )


def test_a_disconnected_network_has_its_parts_numbered_by_length():
    network = read_network(DATA / "disconnected.geojson")
    assert network.component_count == 2
    labels = network.component_labels
    west = labels[network.snap([120.0], [28.0])["u"][0]]
    east = labels[network.snap([120.011], [28.0])["u"][0]]
    assert {west, east} == {0, 1}


def test_snapping_is_vectorised_and_measured_in_metres():
    network = read_network(DATA / "lattice.geojson")
    lon = np.array([120.0025, 120.0025, 120.04 + 0.001, np.nan])
    lat = np.array([28.0 + 0.0002, 28.0025, 28.02, 28.0])
    snaps = network.snap(lon, lat)
    assert snaps["distance_m"][:3].tolist() == pytest.approx(
        [0.2 * NORTH_M, 2.5 * EAST_M, EAST_M], rel=0.01
    )
    assert snaps["lon"][0] == pytest.approx(120.0025) and snaps["lat"][0] == pytest.approx(28.0)
    assert snaps["edge"][3] == -1 and np.isnan(snaps["distance_m"][3])


def test_splitting_at_snapped_points_keeps_lengths_and_leaves_the_original_alone():
    network = read_network(DATA / "lattice.geojson")
    edges_before = network.graph.number_of_edges()
    split, snaps = network.with_points(
        [120.001, 120.003, 120.0, 120.000004], [28.0001, 27.9999, 28.0, 28.0]
    )
    # Two points cut one edge twice; the corner and a point 0.4 m from it use the corner node.
    assert split.graph.number_of_edges() == edges_before + 2
    assert network.graph.number_of_edges() == edges_before
    assert split.total_length_m == pytest.approx(network.total_length_m, abs=0.01)
    nodes = snaps["node"].tolist()
    assert nodes[2] == nodes[3] and nodes[0] != nodes[1]
    assert split.node_lonlat[nodes[0]] == pytest.approx([120.001, 28.0])
    assert split.graph.degree(nodes[0]) == 2


def test_walking_edges_orients_each_geometry():
    network = RoadNetwork.from_lines(
        [
            LineString([(120.0, 28.0), (120.001, 28.0)]),
            LineString([(120.002, 28.0), (120.001, 28.0)]),
        ]
    )
    path = network.path_edges([0, 1, 2])
    line = network.walk(path)
    assert [round(x, 3) for x, _ in line.coords] == [120.0, 120.001, 120.002]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<osm><node id='1' lat='28' lon='120'/>", "not OpenStreetMap XML"),
        ("<osm><node id='1' lat='28' lon='120'/></osm>", "no walkable way"),
        ("<osm><node id='1' lat='x' lon='120'/></osm>", "lon/lat are not numbers"),
    ],
)
def test_bad_osm_files_are_named(tmp_path, text, message):
    path = tmp_path / "bad.osm"
    path.write_text(text)
    with pytest.raises(LayerError, match=message) as caught:
        read_network(path)
    assert "bad.osm" in str(caught.value)


def test_missing_files_and_non_line_layers_are_refused(tmp_path):
    with pytest.raises(LayerError, match="file not found"):
        read_network(tmp_path / "nothing.osm")
    points = tmp_path / "points.geojson"
    points.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"properties": {}, "geometry": {"type": "Point", "coordinates": [120, 28]}}]}'
    )
    with pytest.raises(LayerError, match="must be lines"):
        read_network(points)
    graphml = tmp_path / "bad.graphml"
    graphml.write_text("<graphml><graph")
    with pytest.raises(LayerError, match="not a GraphML file"):
        read_network(graphml)


def test_an_empty_network_cannot_be_snapped_to():
    with pytest.raises(InputError, match="no roads"):
        RoadNetwork.from_lines([]).snap([120.0], [28.0])
