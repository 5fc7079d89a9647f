# Hands over to the application, unless boot.py chose safe mode.
import firmware.early

if not firmware.early.safe:
    firmware.drop("early")  # its work is done; its heap is the app's
    import firmware.app

    firmware.app.run()
