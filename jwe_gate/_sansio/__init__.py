"""The pure core: plain values in, plain values out. No asyncio, no threads, no storage, no
JOSE library: everything here is tested with no server (as h11 and Werkzeug's ``sansio``)."""
