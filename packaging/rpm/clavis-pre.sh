# %pre of the clavis rpm: the clavis user before the files it owns are laid
# down (the line of packaging/sysusers.d/clavis.conf, which is not
# installed yet; scripts/package-test checks they are the same).
systemd-sysusers --replace=/usr/lib/sysusers.d/clavis.conf - <<'SYSUSERS'
u clavis - "Clavis identity appliance" /var/lib/clavis
SYSUSERS
