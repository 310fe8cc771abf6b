"""Central countersigning: verified, facility-attested people become signed EU DCC passports."""
