# Hands over to the application, unless boot.py chose safe mode.
import firmware.early

if not firmware.early.safe:
    import firmware.app

    firmware.app.run()
