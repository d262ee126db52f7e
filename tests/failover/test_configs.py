"""The configs deploy.patroni writes from deploy/patroni/*.yaml (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import yaml

from deploy import patroni


def _cluster(
    tmp_path: Path, **settings: object
) -> tuple[patroni.PatroniSettings, patroni.ClusterState]:
    s = patroni.PatroniSettings(home=tmp_path, **settings)  # type: ignore[arg-type]
    return s, patroni.new_state(s)


def test_node_config_is_patroni_yaml_for_timescaledb_on_loopback(tmp_path: Path) -> None:
    s, state = _cluster(tmp_path, synchronous_mode=True)
    node = state.nodes[1]
    conf = yaml.safe_load(patroni.node_config(s, state, node))
    assert conf["name"] == "node2" and conf["scope"] == "fenlei"
    assert conf["etcd3"] == {"hosts": f"127.0.0.1:{state.etcd_port}"}
    dcs = conf["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True
    assert dcs["primary_start_timeout"] == 0
    # Patroni's own rule: loop_wait + 2 * retry_timeout <= ttl.
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]
    assert dcs["postgresql"]["parameters"]["shared_preload_libraries"] == "timescaledb"
    pg = conf["postgresql"]
    assert pg["listen"] == pg["connect_address"] == f"127.0.0.1:{node.pg_port}"
    assert Path(pg["bin_dir"], "pg_ctl").exists()
    assert pg["data_dir"] == str(tmp_path.resolve() / "patroni" / "node2" / "data")
    assert pg["use_unix_socket"] is True
    assert pg["authentication"]["superuser"] == {
        "username": "fenlei",
        "password": state.superuser_password,
    }
    assert "host all all 127.0.0.1/32 scram-sha-256" in pg["pg_hba"]
    assert conf["restapi"]["listen"] == f"127.0.0.1:{node.api_port}"


def test_asynchronous_by_default(tmp_path: Path) -> None:
    s, state = _cluster(tmp_path)
    conf = yaml.safe_load(patroni.node_config(s, state, state.nodes[0]))
    assert conf["bootstrap"]["dcs"]["synchronous_mode"] is False


def test_ports_are_distinct_and_the_url_lists_every_node(tmp_path: Path) -> None:
    s, state = _cluster(tmp_path, nodes=3)
    ports = [state.etcd_port, state.etcd_peer_port]
    ports += [n.pg_port for n in state.nodes] + [n.api_port for n in state.nodes]
    assert len(set(ports)) == len(ports) == 8
    hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in state.nodes)
    assert state.database_url(s) == (
        f"postgresql://fenlei:{state.superuser_password}@{hosts}/fenlei"
        "?target_session_attrs=read-write"
    )


def test_etcd_config_serves_the_v3_gateway_on_loopback(tmp_path: Path) -> None:
    s, state = _cluster(tmp_path)
    conf = yaml.safe_load(patroni.etcd_config(s, state))
    # Patroni's etcd3 client speaks the JSON gateway, off unless the file says so.
    assert conf["enable-grpc-gateway"] is True
    assert conf["listen-client-urls"] == f"http://127.0.0.1:{state.etcd_port}"
    assert conf["initial-cluster"] == f"fenlei-etcd=http://127.0.0.1:{state.etcd_peer_port}"
    assert conf["data-dir"] == str(tmp_path.resolve() / "patroni" / "etcd" / "data")
