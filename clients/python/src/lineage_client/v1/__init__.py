"""Code generated from proto/lineage/v1 by clients/python/generate.sh: DO NOT EDIT.

`events_pb2` holds the event contract (`Event` and its payloads),
`service_pb2` the query messages and `service_pb2_grpc` the
`LineageServiceStub`. Their siblings are imported relatively, so this
package works wherever `lineage_client` is installed.
"""
