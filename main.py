# Hands over to the application, unless boot.py chose safe mode.
import firmware.early

if not firmware.early.safe:
    firmware.drop("early")  # its work is done; its heap is the app's
    import firmware.valid

    go = firmware.valid.boot()  # a changed config.json is checked before the app takes the heap
    firmware.drop("valid")
    if go:  # the modules that stay come first, while the heap is in one piece (the pool of names grows then too)
        import firmware.app
        import firmware.clock
        import firmware.link
        import firmware.outlets

        firmware.app.run()
    del go
