"""Broker accounts: who may log in to the MQTT broker and which topics each may touch.

``registry`` keeps the list of accounts (wearers, sink workers, clinicians) in one JSON file;
``mosquitto_files`` turns it into Mosquitto's password file (through ``mosquitto_passwd``) and
ACL file, so one wearer's credentials reach only that wearer's topics; ``dynsec`` puts the same
accounts into Mosquitto's dynamic-security plugin instead, which also holds the sink role to its
shared-subscription filter.
"""
