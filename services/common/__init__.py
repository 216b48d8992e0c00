"""Code shared by every tickwire service: config, logging, metrics, the bus wire schema,
topics, ZMQ helpers, lifecycle. Import from the submodules explicitly."""
