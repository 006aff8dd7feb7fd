"""`posturewatch web`: the wearer's phone app and the clinician's screen, served by uvicorn.

``server.start_web(config)`` runs it in a background thread; ``app.WebApp`` is the Starlette
application; ``accounts`` keeps the logins, ``live`` the MQTT picture, ``data`` the store reads.
"""
