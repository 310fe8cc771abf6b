"""vaxpass: vaccination records to verifiable EU DCC passports (Chalice app library)."""
