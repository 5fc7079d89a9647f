# ESP8266 `esp` on the virtual board: what a program may ask of the chip that has an answer without its flash or
# its SDK (ports/esp8266/modesp.c). The rest is listed in docs/esp8266-modules.md.
SLEEP_NONE, SLEEP_LIGHT, SLEEP_MODEM = 0, 1, 2


def flash_size():
    return 4194304  # a NodeMCU's 4 MB chip, as esptool's write-flash --flash-size detect leaves it in the header


def flash_id():
    return 0x1640EF  # a Winbond W25Q32's JEDEC id (NodeMCU boards carry several makers' 4 MB chips)


def osdebug(uart):  # where the SDK prints its debug lines: the virtual board has no SDK to print them
    pass
