"""The server fixtures start, answer, and restart on the same port."""

from servers import port_open


def test_mosquitto_restarts_on_same_port(mosquitto_factory):
    server = mosquitto_factory()
    port = server.port
    assert port_open(server.host, port)
    server.stop()
    assert not port_open(server.host, port)
    server.start()
    assert server.port == port and port_open(server.host, port)


def test_victoria_accepts_influx_v2_write_and_restarts(victoria_factory):
    import urllib.request

    server = victoria_factory()
    line = b"smoke,user=u value=3 1700000000000"
    url = server.url + "/api/v2/write?precision=ms"
    req = urllib.request.Request(url, data=line, method="POST")
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 204
    server.restart()
    rows = server.export('{__name__="smoke_value"}')
    assert rows[0]["values"] == [3] and rows[0]["timestamps"] == [1700000000000]
