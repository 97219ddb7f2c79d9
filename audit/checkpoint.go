package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"pudong.gov.cn/gateway/internal/keyfile"
)

// timeLayout is how checkpoint times are written, signed and reported.
const timeLayout = time.RFC3339Nano

// checkpointTag opens the signed encoding of a checkpoint (docs/audit.md, "Checkpoints").
const checkpointTag = "pudong-gateway-checkpoint-v1"

// CheckpointFileSuffix ends the name of every checkpoint file: one file per chain, named
// after it ("default" for the default chain), in each sink directory.
const CheckpointFileSuffix = ".checkpoints.jsonl"

// Checkpoint is a signed statement that a chain's event Seq had hash Hash at At. It is
// one JSON line of a checkpoint file.
type Checkpoint struct {
	Chain string    `json:"chain"`
	Seq   int64     `json:"seq"`
	Hash  string    `json:"hash"`
	At    time.Time `json:"at"`
	KeyID string    `json:"kid"`
	// Prev is the hex SHA-256 of the previous checkpoint's signature in the same file, ""
	// for the first: a line removed from the middle of a file breaks the link.
	Prev string `json:"prev"`
	Sig  []byte `json:"sig"` // Ed25519 over SignedBytes
}

// SignedBytes is the message a checkpoint's signature covers: length-prefixed fields as
// in the event hash (docs/audit.md).
func (c *Checkpoint) SignedBytes() []byte {
	var b bytes.Buffer
	var n [8]byte
	for _, s := range []string{checkpointTag, c.Chain, strconv.FormatInt(c.Seq, 10), c.Hash,
		c.At.UTC().Format(timeLayout), c.KeyID, c.Prev} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		b.Write(n[:])
		b.WriteString(s)
	}
	return b.Bytes()
}

// link is what the next checkpoint of the same file carries as Prev.
func (c *Checkpoint) link() string {
	sum := sha256.Sum256(c.Sig)
	return hex.EncodeToString(sum[:])
}

// ChainFile is the checkpoint file name of a chain.
func ChainFile(chain string) string {
	if chain == "" {
		chain = "default"
	}
	return chain + CheckpointFileSuffix
}

// KeyID names an Ed25519 public key: the lowercase hex of the first 8 bytes of the
// SHA-256 of its 32 bytes. Checkpoints carry it, so that verification picks the key
// that signed each one after a rotation.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs checkpoints with the audit signing key.
type Signer struct {
	key ed25519.PrivateKey
	kid string
}

// NewSigner signs with key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, kid: KeyID(key.Public().(ed25519.PublicKey))}
}

// KeyID is the id of the signer's key.
func (s *Signer) KeyID() string { return s.kid }

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign fills in c's KeyID and Sig.
func (s *Signer) Sign(c *Checkpoint) {
	c.KeyID = s.kid
	c.Sig = ed25519.Sign(s.key, c.SignedBytes())
}

// LoadSigningKey reads the audit signing key: an Ed25519 private key, PKCS #8 in PEM, that
// only its owner may read (keyfile.Read). With create, a missing file is generated (mode
// 0600), as the demo does in its data directory; the key must never be kept in the audit
// database it protects. Without, the error wraps fs.ErrNotExist when there is no file.
func LoadSigningKey(path string, create bool) (*Signer, error) {
	read := keyfile.Read
	if create {
		read = keyfile.ReadOrCreate
	}
	key, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	return NewSigner(key), nil
}

// EncodePublicKey is pub as a PEM "PUBLIC KEY" (PKIX), the form key sets are read in.
func EncodePublicKey(pub ed25519.PublicKey) []byte { return keyfile.EncodePublic(pub) }

// PublishKey writes pub as DIR/keys/KEYID.pem unless it is there, so that the key set
// verification starts from travels with the checkpoints it verifies. The file is written
// whole or not at all, and one that holds anything but the key (a write a crash cut
// short) is written again: LoadKeys refuses a file it cannot read.
func PublishKey(dir string, pub ed25519.PublicKey) error {
	path := filepath.Join(dir, "keys", KeyID(pub)+".pem")
	if err := keyfile.WritePublic(path, pub); err != nil {
		return fmt.Errorf("publish audit key: %w", err)
	}
	return nil
}

// KeySet is the public keys verification trusts, by KeyID. Old keys stay in the set
// after a rotation so that the checkpoints they signed still verify.
type KeySet map[string]ed25519.PublicKey

// Add trusts pub.
func (k KeySet) Add(pub ed25519.PublicKey) { k[KeyID(pub)] = pub }

// ParsePublicKeys adds every PEM "PUBLIC KEY" block of b (Ed25519) to the set.
func (k KeySet) ParsePublicKeys(b []byte) error {
	keys, err := keyfile.DecodePublic(b)
	for _, pub := range keys {
		k.Add(pub)
	}
	return err
}

// LoadKeys reads public keys from files and from the *.pem files of directories.
func LoadKeys(paths ...string) (KeySet, error) {
	ks := KeySet{}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("audit keys: %w", err)
		}
		files := []string{p}
		if info.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.pem"))
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("audit keys: %w", err)
			}
			if err := ks.ParsePublicKeys(b); err != nil {
				return nil, fmt.Errorf("audit keys %s: %w", f, err)
			}
		}
	}
	return ks, nil
}

// Anchors are the checkpoints chains are verified against: those whose signature
// verified, by chain in ascending Seq, and the problems found reading them.
type Anchors struct {
	valid    map[string][]Checkpoint
	problems []Break
	notes    []string
}

// Problems are the findings about the checkpoints themselves: forged ones, lines
// missing from a file, a file one sink has and another lacks.
func (a *Anchors) Problems() []Break { return a.problems }

// Checkpoints returns the valid checkpoints of every chain, by chain.
func (a *Anchors) Checkpoints() map[string][]Checkpoint { return a.valid }

// maxCheckpointLine bounds one line of a checkpoint file.
const maxCheckpointLine = 64 << 10

// Sink is where one replica writes its checkpoints: a primary directory and an optional
// mirror holding the same files.
type Sink struct {
	Dir    string
	Mirror string
}

// ReadAnchors reads the checkpoint files of the sinks (one per replica whose
// checkpoints are not in another's) and checks every signature against keys. A file
// present in a sink's directory and missing in its mirror, or the other way round, is
// reported; the union of the valid checkpoints anchors the chains, so deleting a file
// from one directory gains nothing.
func ReadAnchors(keys KeySet, sinks ...Sink) (*Anchors, error) {
	a := &Anchors{valid: map[string][]Checkpoint{}}
	seen := map[string]map[int64]Checkpoint{}
	add := func(path string, cps []Checkpoint) {
		for _, cp := range cps {
			if seen[cp.Chain] == nil {
				seen[cp.Chain] = map[int64]Checkpoint{}
			}
			if old, dup := seen[cp.Chain][cp.Seq]; dup && old.Hash != cp.Hash {
				a.problems = append(a.problems, Break{Chain: cp.Chain, Seq: cp.Seq, Kind: ForgedCheckpoint,
					Expected: old.Hash, Found: cp.Hash + " in " + path})
				continue
			}
			seen[cp.Chain][cp.Seq] = cp
		}
	}
	for _, sink := range sinks {
		dirs := []string{sink.Dir}
		if sink.Mirror != "" {
			dirs = append(dirs, sink.Mirror)
		}
		present := map[string][]string{} // file name → directories of this sink that have it
		for _, dir := range dirs {
			if _, err := os.Stat(dir); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("checkpoint directory: %w", err)
				}
				a.problems = append(a.problems, Break{Kind: MissingCheckpoint, Expected: "checkpoint directory " + dir, Found: "none"})
				continue
			}
			names, err := filepath.Glob(filepath.Join(dir, "*"+CheckpointFileSuffix))
			if err != nil {
				return nil, err
			}
			for _, path := range names {
				present[filepath.Base(path)] = append(present[filepath.Base(path)], dir)
				cps, probs, notes, err := readCheckpointFile(path, keys)
				if err != nil {
					return nil, err
				}
				a.problems = append(a.problems, probs...)
				a.notes = append(a.notes, notes...)
				add(path, cps)
			}
		}
		files := make([]string, 0, len(present))
		for f := range present {
			files = append(files, f)
		}
		sort.Strings(files)
		for _, f := range files {
			for _, dir := range dirs {
				if !contains(present[f], dir) {
					a.problems = append(a.problems, Break{Chain: strings.TrimSuffix(f, CheckpointFileSuffix), Kind: MissingCheckpoint,
						Expected: "checkpoint file " + filepath.Join(dir, f), Found: "none (the file is in " + strings.Join(present[f], ", ") + ")"})
				}
			}
		}
	}
	for chain, bySeq := range seen {
		for _, cp := range bySeq {
			a.valid[chain] = append(a.valid[chain], cp)
		}
		sort.Slice(a.valid[chain], func(i, j int) bool { return a.valid[chain][i].Seq < a.valid[chain][j].Seq })
	}
	return a, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkSignature reports a checkpoint signed by no trusted key, or whose signature does
// not verify; where says where it was read.
func checkSignature(cp Checkpoint, keys KeySet, where string) *Break {
	pub, known := keys[cp.KeyID]
	switch {
	case !known:
		return &Break{Chain: cp.Chain, Seq: cp.Seq, Kind: ForgedCheckpoint,
			Expected: "a key of the trusted set", Found: "key id " + strconv.Quote(cp.KeyID) + " at " + where}
	case !ed25519.Verify(pub, cp.SignedBytes(), cp.Sig):
		return &Break{Chain: cp.Chain, Seq: cp.Seq, Kind: ForgedCheckpoint,
			Expected: "a valid signature of key " + cp.KeyID, Found: "a bad signature at " + where}
	}
	return nil
}

// readCheckpointFile returns the checkpoints of one file whose signature verifies, and a
// finding for each that does not or whose link to the previous line is broken. A last
// line without its newline that does not read as a checkpoint is a write in progress or
// one a crash tore (the checkpointer cuts it at its next start, cutTornLine): it proves
// nothing and hides nothing, so it is a note, not a finding.
func readCheckpointFile(path string, keys KeySet) ([]Checkpoint, []Break, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("checkpoint file: %w", err)
	}
	defer f.Close()
	unterminated, err := endsUnterminated(f)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("checkpoint file %s: %w", path, err)
	}
	var (
		out        []Checkpoint
		probs      []Break
		notes      []string
		prev       string
		line       int
		unreadLine int // the line of the last unreadable checkpoint, if it is probs' last
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxCheckpointLine)
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		unreadLine = 0
		var cp Checkpoint
		where := fmt.Sprintf("%s line %d", path, line)
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			probs = append(probs, Break{Kind: ForgedCheckpoint, Expected: "a checkpoint", Found: "unreadable " + where})
			unreadLine = line
			continue
		}
		if b := checkSignature(cp, keys, where); b != nil {
			probs = append(probs, *b)
			continue
		}
		if cp.Prev != prev {
			probs = append(probs, Break{Chain: cp.Chain, Seq: cp.Seq, Kind: CheckpointGap,
				Expected: "link " + prev, Found: cp.Prev + " at " + where + ": checkpoints were removed before it"})
		}
		prev = cp.link()
		out = append(out, cp)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("checkpoint file %s: %w", path, err)
	}
	if unterminated && unreadLine == line && line > 0 {
		probs = probs[:len(probs)-1]
		notes = append(notes, fmt.Sprintf("%s line %d is incomplete (a checkpoint being written, or one a crash tore; the gateway cuts it at its next start): not checked", path, line))
	}
	return out, probs, notes, nil
}

// endsUnterminated reports whether f's last byte is not a newline, and leaves f at its
// start.
func endsUnterminated(f *os.File) (bool, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false, err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return false, err
	}
	return last[0] != '\n', nil
}
